"""``netanswer-bot worker``: a reply left in the outbox when its send failed and the web
process went away is delivered by the worker process, once; SIGTERM stops it in time."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.runtime import start
from bot.server import create_app
from flows.messages import render
from flows.replies import Reply
from storage.models import OutboxMessage, OutboxStatus
from tests.channels.conftest import Member, telegram
from tests.channels.telegram_stand_in import TelegramStandIn
from tests.workers import Process


@pytest.fixture
async def left_behind(
    telegram_settings: Settings, stand_in: TelegramStandIn
) -> AsyncIterator[list[str]]:
    """A member's /start answered by a web process whose send to Telegram failed, then
    the web process gone; yields the texts Telegram should show."""
    bot = await asyncio.to_thread(start, telegram_settings)  # the real clock, as the worker's
    app = create_app(bot, retry_every=3600, channels=[telegram(bot)])
    stand_in.fail("sendMessage", 500)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            await Member(client, stand_in).say("/start")
    assert stand_in.texts == []  # the send failed; nobody is left to retry it
    yield [render(Reply("welcome"), "ja"), render(Reply("ask.card"), "ja")]


async def test_the_worker_delivers_a_reply_left_in_the_outbox_once_and_stops_on_sigterm(
    left_behind: list[str], telegram_settings: Settings, stand_in: TelegramStandIn
) -> None:
    worker = Process("worker", env=dict(telegram_settings.environ))
    await worker.start()
    try:
        began = time.monotonic()
        while len(stand_in.texts) < 2:  # after the 2 s backoff of the failed send
            assert time.monotonic() - began < 30, stand_in.texts
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.5)  # two more sweeps: nothing is sent again
        code, took = await worker.terminate()
    finally:
        await worker.close()
    assert code == 0 and took < 10
    assert stand_in.texts == left_behind
    bot = await asyncio.to_thread(start, telegram_settings, upgrade=False)
    try:
        async with bot.database.transaction() as session:
            rows = list(await session.scalars(select(OutboxMessage)))
    finally:
        await bot.close()
    assert [row.status for row in rows] == [OutboxStatus.SENT] * len(rows)
    assert [row.attempts for row in rows] == [2] * len(rows)  # the failure, then the worker
