"""The background work of a serving process: each pass bounded and logged, a loop that
stops passing reported by /healthz, and the event ledger pruned."""

import asyncio
import time
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from adapters.channels.channel import Inbound
from bot.loops import Loop
from bot.runtime import Runtime
from bot.server import create_app
from storage.models import ProcessedEvent
from tests.conftest import Clock


async def test_a_pass_that_hangs_is_cut_off_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def hang() -> None:
        await asyncio.Event().wait()

    loop = Loop("probe", every=0.01, work=hang, deadline=0.05)
    before = loop.last_pass
    began = time.monotonic()
    await loop.once()
    assert time.monotonic() - began < 1 and loop.last_pass == before
    assert "probe pass failed: Overdue" in caplog.text
    assert loop.stalled(time.monotonic() + 3 * (0.01 + 0.05) + 0.01)


async def test_healthz_names_a_loop_that_stopped_passing(bot: Runtime) -> None:
    app = create_app(bot, retry_every=3600)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            outbox = next(loop for loop in app.state.loops if loop.name == "outbox")
            outbox.last_pass -= 4 * (outbox.every + outbox.deadline)
            answer = await client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "stalled", "loops": ["outbox"]}


async def test_the_event_ledger_forgets_ids_after_a_week(bot: Runtime, clock: Clock) -> None:
    for _ in range(3):
        await bot.engine.handle(Inbound("console", "old", uuid.uuid4().hex, text="/help"))
    clock.advance(days=6)
    await bot.engine.handle(Inbound("console", "new", "recent", text="/help"))
    clock.advance(days=1, minutes=1)
    assert await bot.engine.prune_events() == 3
    async with bot.database.transaction() as session:
        kept = await session.scalars(select(ProcessedEvent.event_id))
        assert list(kept) == ["recent"]
    clock.advance(days=7)
    assert await bot.engine.prune_events() == 1
    async with bot.database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
