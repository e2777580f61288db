"""Events of one chat wait for an earlier one as long as a worker still holds it: an
event is given up (the later ones go ahead) only when no worker has said it holds it
for ARRIVAL_MEMORY, not when it merely arrived that long ago."""

import asyncio
import uuid

import pytest
from sqlalchemy import select

from adapters.channels.channel import Inbound
from bot import engine
from bot.runtime import Runtime
from storage import vault
from storage.models import TranscriptEntry
from tests.conftest import Chat, Clock
from tests.enroll import PASSWORD, to_password
from tests.test_password_hashing import _HeldHasher


async def test_a_later_event_waits_for_an_earlier_one_held_past_the_arrival_memory(
    bot: Runtime, chat: Chat, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await to_password(chat)
    monkeypatch.setattr(engine, "STILL_HERE_EVERY", 0.05)
    held = _HeldHasher(vault._hasher)
    monkeypatch.setattr(vault, "_hasher", held)

    def event(position: int, text: str) -> Inbound:
        return Inbound(chat.channel, chat.user, uuid.uuid4().hex, text=text, position=position)

    password = asyncio.create_task(bot.engine.handle(event(1, PASSWORD)))
    try:
        assert await asyncio.to_thread(held.started.wait, 10)  # its worker hashes it
        clock.advance(seconds=engine.ARRIVAL_MEMORY.total_seconds() + 1)
        await asyncio.sleep(0.3)  # the hashing worker says it still holds the event
        help_asked = asyncio.create_task(bot.engine.handle(event(2, "/help")))
        await asyncio.sleep(0.5)
        assert not help_asked.done()  # it waits for the password, however long that takes
    finally:
        held.go.set()
    assert (await password).state == "repeat"
    assert (await help_asked).state == "repeat"
    async with bot.database.transaction() as session:
        rows = await session.scalars(
            select(TranscriptEntry)
            .where(TranscriptEntry.direction == "in")
            .order_by(TranscriptEntry.id.desc())
            .limit(2)
        )
        latest = [(row.state_before, row.body) for row in rows]
    assert latest == [
        ("repeat", {"command": "help"}),
        ("password", {"text": f"⟨password:{len(PASSWORD)}:ok⟩"}),
    ]
