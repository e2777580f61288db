"""The web server every channel shares: ``/healthz``, each configured channel's routes,
the telephony endpoint, and the background loops (outbox retries, the idle sweep).
Stateless: any number of these may serve one database.

``503`` whenever the database cannot be reached, so a load balancer stops sending
traffic and the channels deliver the event again later.
"""

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.channels.channel import Channel
from bot import telephony
from bot.config import ConfigError
from bot.registry import CHANNELS
from bot.runtime import Runtime
from storage.health import probe_write

TELEPHONY_SECRET_HEADER = "X-Telephony-Secret"  # noqa: S105 (a header name)
RETRY_EVERY = 1.0  # seconds between sweeps of the outbox
SWEEP_EVERY = 60.0  # seconds between sweeps for idle enrollments

logger = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


def create_app(
    runtime: Runtime,
    *,
    retry_every: float = RETRY_EVERY,
    channels: Sequence[Channel] | None = None,
) -> Starlette:
    """The ASGI app; it owns ``runtime`` and closes it on shutdown. ``channels`` are
    the registered channels configured in the runtime's environment unless given."""
    served = list(configured_channels(runtime) if channels is None else channels)
    routes: list[BaseRoute] = [Route("/healthz", _health(runtime), methods=["GET"])]
    if runtime.settings.telephony_secret:
        endpoint = _inbound_call(runtime, runtime.settings.telephony_secret)
        routes.append(Route("/telephony/inbound-call", endpoint, methods=["POST"]))
    for channel in served:
        runtime.attach(channel)
        routes.extend(channel.routes())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        work: list[Callable[[], Coroutine[Any, Any, None]]] = [
            lambda: runtime.dispatcher.run(retry_every),
            lambda: _expire_idle_forever(runtime),
        ]
        tasks: list[asyncio.Task[None]] = []
        try:
            for channel in served:
                await channel.start()
                work.extend(channel.background())
            tasks = [asyncio.create_task(job()) for job in work]
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for channel in served:
                await channel.close()
            await runtime.close()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={OperationalError: _unavailable},
    )


def configured_channels(runtime: Runtime) -> list[Channel]:
    """Every registered channel whose settings are in the environment."""
    channels = []
    for kind in CHANNELS:
        try:
            channel = kind.configured(runtime.settings.environ, runtime)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if channel is not None:
            channels.append(channel)
    return channels


def _health(runtime: Runtime) -> Endpoint:
    async def health(request: Request) -> Response:
        await probe_write(runtime.database)  # what a webhook needs: a write
        return JSONResponse({"status": "ok"})

    return health


def _inbound_call(runtime: Runtime, secret: str) -> Endpoint:
    """The issuer's toll-free line reports a caller: ``{"caller": "03-1234-5678"}``."""

    async def inbound(request: Request) -> Response:
        given = request.headers.get(TELEPHONY_SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return Response(status_code=403)
        try:
            caller = (await request.json())["caller"]
            if not isinstance(caller, str):
                raise TypeError(caller)
            matched = await telephony.inbound_call(
                runtime.database, runtime.vault, caller, runtime.now()
            )
        except (ValueError, TypeError, KeyError):  # UnknownNumber is a ValueError
            return Response(status_code=400)
        return JSONResponse({"matched": matched})

    return inbound


async def _expire_idle_forever(runtime: Runtime) -> None:
    """Every minute, wipe the card data of enrollments their members walked away from."""
    while True:
        try:
            await runtime.engine.expire_idle()
        except Exception as error:  # the database away: try again next time
            logger.warning("idle sweep failed: %s", type(error).__name__)
        await asyncio.sleep(SWEEP_EVERY)


async def _unavailable(request: Request, error: Exception) -> Response:
    logger.warning("database unavailable: %s", type(error).__name__)
    return JSONResponse({"status": "database unavailable"}, status_code=503)
