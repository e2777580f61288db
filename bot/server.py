"""The web server every channel shares: ``/healthz``, the channel webhooks, and the
outbox retry loop. Stateless: any number of these may serve one database.

``503`` whenever the database cannot be reached, so a load balancer stops sending
traffic and the channels deliver the event again later.
"""

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.line import CHANNEL as LINE
from adapters.line import SIGNATURE_HEADER, Line, Rejected
from adapters.telegram import CHANNEL as TELEGRAM
from adapters.telegram import SECRET_HEADER, Malformed, Telegram
from bot import telephony
from bot.config import ConfigError
from bot.dispatcher import Dispatcher
from bot.engine import expire_idle
from bot.runtime import Runtime
from bot.throttle import Throttle
from storage.database import Database

TELEPHONY_SECRET_HEADER = "X-Telephony-Secret"
RETRY_EVERY = 1.0  # seconds between sweeps of the outbox
SWEEP_EVERY = 60.0  # seconds between sweeps for idle enrollments

logger = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


def create_app(
    runtime: Runtime,
    *,
    polling: bool = False,
    retry_every: float = RETRY_EVERY,
    telegram_throttle: Throttle | None = None,
) -> Starlette:
    """The ASGI app; it owns ``runtime`` and closes it on shutdown. The dispatcher is
    at ``app.state.dispatcher``."""
    dispatcher = Dispatcher(runtime.database, runtime.engine.services.clock)
    telegram = Telegram.configured(
        runtime.settings, runtime.engine, webhook=not polling, throttle=telegram_throttle
    )
    if polling and telegram is None:
        raise ConfigError("--telegram-polling needs TELEGRAM_BOT_TOKEN")
    line = Line.configured(runtime.settings, runtime.engine)
    routes = [Route("/healthz", _health(runtime.database), methods=["GET"])]
    if runtime.settings.telephony_secret:
        endpoint = _inbound_call(runtime, runtime.settings.telephony_secret)
        routes.append(Route("/telephony/inbound-call", endpoint, methods=["POST"]))
    if telegram is not None:
        dispatcher.register(TELEGRAM, telegram)
        if not polling:
            webhook = _telegram_webhook(telegram, dispatcher)
            routes.append(Route("/webhooks/telegram", webhook, methods=["POST"]))
    if line is not None:
        dispatcher.register(LINE, line)
        routes.append(Route("/webhooks/line", _line_webhook(line, dispatcher), methods=["POST"]))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(dispatcher.run(retry_every)),
            asyncio.create_task(_expire_idle_forever(runtime)),
        ]
        try:
            if telegram is not None:
                await telegram.start()
                if polling:
                    tasks.append(asyncio.create_task(telegram.poll(dispatcher)))
            if line is not None:
                await line.start()
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if telegram is not None:
                await telegram.close()
            if line is not None:
                await line.close()
            await runtime.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={OperationalError: _unavailable},
    )
    app.state.dispatcher = dispatcher
    return app


def _health(database: Database) -> Endpoint:
    async def health(request: Request) -> Response:
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    return health


def _telegram_webhook(telegram: Telegram, dispatcher: Dispatcher) -> Endpoint:
    async def webhook(request: Request) -> Response:
        if not telegram.authentic(request.headers.get(SECRET_HEADER)):
            return Response(status_code=403)
        try:
            update = telegram.parse(await request.body())
        except Malformed:
            return Response(status_code=400)
        user_id = await telegram.handle(update)
        if user_id is None:
            return Response()
        # Answer Telegram at once; the replies go out right after, at Telegram's pace.
        return Response(background=BackgroundTask(_deliver, dispatcher, TELEGRAM, user_id))

    return webhook


def _line_webhook(line: Line, dispatcher: Dispatcher) -> Endpoint:
    async def webhook(request: Request) -> Response:
        try:
            events = line.parse(await request.body(), request.headers.get(SIGNATURE_HEADER))
        except Rejected:
            return Response(status_code=400)
        users = await line.handle(events)
        if not users:
            return Response()
        # Answer LINE at once; the replies go out right after, while the tokens are fresh.
        return Response(background=BackgroundTask(_deliver_all, dispatcher, LINE, users))

    return webhook


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
                runtime.database, runtime.vault, caller, runtime.engine.services.clock()
            )
        except (ValueError, TypeError, KeyError):  # UnknownNumber is a ValueError
            return Response(status_code=400)
        return JSONResponse({"matched": matched})

    return inbound


async def _deliver(dispatcher: Dispatcher, channel: str, user_id: str) -> None:
    try:
        await dispatcher.deliver(channel, user_id)
    except Exception as error:  # the retry loop sends whatever is still queued
        logger.warning("delivery after the webhook failed: %s", type(error).__name__)


async def _deliver_all(dispatcher: Dispatcher, channel: str, user_ids: list[str]) -> None:
    for user_id in user_ids:
        await _deliver(dispatcher, channel, user_id)


async def _expire_idle_forever(runtime: Runtime) -> None:
    """Every minute, wipe the card data of enrollments their members walked away from."""
    while True:
        try:
            await expire_idle(runtime.engine.services)
        except Exception as error:  # the database away: try again next time
            logger.warning("idle sweep failed: %s", type(error).__name__)
        await asyncio.sleep(SWEEP_EVERY)


async def _unavailable(request: Request, error: Exception) -> Response:
    logger.warning("database unavailable: %s", type(error).__name__)
    return JSONResponse({"status": "database unavailable"}, status_code=503)
