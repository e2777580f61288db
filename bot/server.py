"""The web server every channel shares: ``/healthz``, each configured channel's routes,
the telephony endpoint, and the background loops (outbox retries, the idle sweep, the
event-ledger pruning; ``bot/worker.py`` runs them without HTTP). Stateless: any number
of these may serve one database.

``503`` whenever the database cannot be reached, refuses, times out or hangs, so a load
balancer stops sending traffic and the channels deliver the event again later; a
webhook answers 200 only for an event that was applied or deliberately ignored.
``413`` for a body larger than :data:`MAX_BODY_BYTES`, counted while it is read, on
every route.
"""

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.channels.channel import ENTRY_PAGE, Channel, Rejected, read_json
from bot import entry_page, signin_page, support, telephony
from bot.config import ConfigError
from bot.deadlines import within
from bot.engine import UNAVAILABLE
from bot.loops import RETRY_EVERY, Loop, background
from bot.registry import CHANNELS
from bot.runtime import Runtime
from storage.health import probe_write

TELEPHONY_SECRET_HEADER = "X-Telephony-Secret"  # noqa: S105 (a header name)
HEALTH_DEADLINE = 4.0  # /healthz answers within 5 s whatever the database does
STOPPING = 5.0  # seconds the shutdown may take, so SIGTERM ends a worker quickly
#: The largest request body any route reads; a webhook update is a few kilobytes.
MAX_BODY_BYTES = 1024 * 1024

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
    loops = background(runtime, retry_every=retry_every)
    routes: list[BaseRoute] = [Route("/healthz", _health(runtime, loops), methods=["GET"])]
    if runtime.settings.telephony_secret:
        endpoint = _inbound_call(runtime, runtime.settings.telephony_secret)
        routes.append(Route("/telephony/inbound-call", endpoint, methods=["POST"]))
    for channel in served:
        runtime.attach(channel)
        routes.extend(channel.routes())
    if runtime.settings.public_url and any(c.capabilities.links_accounts for c in served):
        routes.extend(signin_page.routes(runtime.engine))
    if any(channel.entry_link(ENTRY_PAGE) for channel in served):
        routes.extend(entry_page.routes(runtime, served))
    # SUPPORT_CONSOLE=1 serves the console in production too; 0 nowhere.
    console = runtime.settings.environ.get(
        "SUPPORT_CONSOLE", "0" if runtime.settings.production else "1"
    )
    if console == "1":
        routes.extend(support.routes(runtime))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        work: list[Callable[[], Coroutine[Any, Any, None]]] = [loop.run for loop in loops]
        tasks: list[asyncio.Task[None]] = []
        try:
            for channel in served:
                await channel.start()
                work.extend(channel.background())
            tasks = [asyncio.create_task(job()) for job in work]
            yield
        finally:
            await shut_down(tasks, served, runtime)

    # Starlette's own limit wraps every route: a declared Content-Length over it is
    # refused before the first read, a chunked body as soon as the count passes it.
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            **{kind: _unavailable for kind in UNAVAILABLE},
            ClientDisconnect: _gone,
        },
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.loops = loops
    return app


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


def _health(runtime: Runtime, loops: Sequence[Loop]) -> Endpoint:
    """200 when the database takes a write in time (what a webhook needs) and every
    background loop keeps passing; 503 otherwise, naming what is wrong."""

    async def health(request: Request) -> Response:
        try:
            await within(HEALTH_DEADLINE, probe_write(runtime.database), what="health check")
        except Exception as error:
            logger.warning("health check failed: %s", type(error).__name__)
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        now = time.monotonic()
        stalled = [loop.name for loop in loops if loop.stalled(now)]
        if stalled:
            return JSONResponse({"status": "stalled", "loops": stalled}, status_code=503)
        return JSONResponse({"status": "ok"})

    return health


def _inbound_call(runtime: Runtime, secret: str) -> Endpoint:
    """The issuer's toll-free line reports a caller: ``{"caller": "03-1234-5678"}``."""

    async def inbound(request: Request) -> Response:
        given = request.headers.get(TELEPHONY_SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return Response(status_code=403)  # before the body is read
        try:
            caller = read_json(await request.body())["caller"]
            if not isinstance(caller, str):
                raise TypeError(type(caller).__name__)
            matched = await telephony.inbound_call(
                runtime.database, runtime.vault, caller, runtime.now()
            )
        except (Rejected, ValueError, TypeError, KeyError):  # UnknownNumber is a ValueError
            return Response(status_code=400)
        return JSONResponse({"matched": matched})

    return inbound


async def shut_down(
    tasks: Sequence[asyncio.Task[None]], channels: Sequence[Channel], runtime: Runtime
) -> None:
    """Cancel the background tasks, close the channels and the runtime; bounded, so a
    hung database cannot keep a stopping process alive."""
    try:
        await within(STOPPING, _stop(tasks, channels, runtime), what="stopping")
    except Exception as error:
        # The type only: a database error would quote its SQL parameters.
        logger.warning("stopping: %s", type(error).__name__)


async def _stop(
    tasks: Sequence[asyncio.Task[None]], channels: Sequence[Channel], runtime: Runtime
) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    await runtime.close()


async def _gone(request: Request, error: Exception) -> Response:
    """The client hung up (or was cut off as too slow) before its body was read:
    nobody is left to answer, and nothing is worth a traceback."""
    return Response(status_code=400)


async def _unavailable(request: Request, error: Exception) -> Response:
    logger.warning("database unavailable: %s", type(error).__name__)
    return JSONResponse({"status": "database unavailable"}, status_code=503)
