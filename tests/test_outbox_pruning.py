"""The outbox forgets what it sent: a sent or failed row, with the reply token, page
token or sealed passcode it carries, is deleted OUTBOX_MEMORY after its outcome; a
pending row stays, however old."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import select

from adapters.channels.channel import REPLY_LINK_LIFETIME, Channel, Inbound, Outgoing, SendFailed
from bot import engine
from bot.engine import OUTBOX_MEMORY
from bot.runtime import Runtime
from storage import schema
from storage.database import aware, sync_url
from storage.models import OutboxMessage
from tests.conftest import Chat, Clock
from tests.enroll import answers_to_passcode


class _Channel(Channel):
    """Sends everything, except to the chats it was told are gone for good."""

    name = "test"

    def __init__(self, bot: Runtime, gone: set[str]) -> None:
        super().__init__(bot)
        self.gone = gone

    async def send(self, batch: Sequence[Outgoing]) -> None:
        if batch[0].user_id in self.gone:
            raise SendFailed("blocked", permanent=True)


async def _rows(bot: Runtime) -> list[tuple[str, str]]:
    """(chat user, status) of every outbox row of the test channel, oldest first."""
    async with bot.database.transaction() as session:
        query = (
            select(OutboxMessage.user_id, OutboxMessage.status)
            .where(OutboxMessage.channel == "test")
            .order_by(OutboxMessage.id)
        )
        return [(user, status) for user, status in (await session.execute(query)).all()]


async def _say(bot: Runtime, user: str) -> None:
    """/help from ``user``: one reply queued."""
    inbound = Inbound("test", user, uuid.uuid4().hex, text="/help")
    await bot.engine.handle(inbound, route={"chat": user})


async def test_done_rows_go_after_their_retention_pending_ones_stay(
    bot: Runtime, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "_PRUNE_BATCH", 2)  # several batches in one pass
    bot.attach(_Channel(bot, gone={"blocked"}))
    await _say(bot, "sent")
    turn = len(await _rows(bot))  # replies to one /help
    assert turn >= 2
    for user in ("sent", "blocked", "late", "waiting"):
        await _say(bot, user)
    for user in ("sent", "blocked"):
        await bot.deliver("test", user)

    clock.advance(seconds=(OUTBOX_MEMORY - REPLY_LINK_LIFETIME).total_seconds())
    await bot.deliver("test", "late")  # queued long ago, sent only now
    await _say(bot, "sent")
    await bot.deliver("test", "sent")
    clock.advance(seconds=REPLY_LINK_LIFETIME.total_seconds() - 60)
    await bot.engine.prune_events()
    # The first blocked reply was given up; the rest of its turn waits behind it.
    blocked = [("blocked", "failed")] + [("blocked", "pending")] * (turn - 1)
    late, waiting = [("late", "sent")] * turn, [("waiting", "pending")] * turn
    recent = [("sent", "sent")] * turn
    assert await _rows(bot) == [("sent", "sent")] * 2 * turn + blocked + late + waiting + recent

    clock.advance(seconds=61)  # OUTBOX_MEMORY and a second since the first outcomes
    await bot.engine.prune_events()
    assert await _rows(bot) == blocked[1:] + late + waiting + recent

    clock.advance(days=365)
    await bot.engine.prune_events()
    assert await _rows(bot) == blocked[1:] + waiting


async def test_a_passcode_sms_is_forgotten_with_the_replies(
    bot: Runtime, chat: Chat, clock: Clock
) -> None:
    for kind, sent in answers_to_passcode():
        await (chat.send(sent) if kind == "text" else chat.send(choice=sent))
    assert chat.state == "otp"
    passcode = await chat.passcode()

    async def stored() -> list[tuple[str, str, str]]:
        async with bot.database.transaction() as session:
            rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            return [(row.channel, row.status, repr(row.payload)) for row in rows]

    kept = await stored()
    assert [(channel, status) for channel, status, _ in kept] == [("sms", "sent")]
    assert passcode not in kept[0][2]  # sealed, never in clear
    clock.advance(seconds=OUTBOX_MEMORY.total_seconds())
    await bot.engine.prune_events()
    assert len(await stored()) == 1
    clock.advance(seconds=1)
    await bot.engine.prune_events()
    assert await stored() == []


def test_the_migration_dates_rows_done_before_it_from_their_outcome(database_url: str) -> None:
    command.upgrade(schema._config(database_url), "0014")
    engine = sqlalchemy.create_engine(sync_url(database_url))
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO conversations (id, channel, user_id, flow, state, slots, lang, "
                "started_at, updated_at) VALUES (1, 'line', 'U1', 'enrollment', 'card', "
                "'{}', 'ja', :at, :at)"
            ),
            {"at": "2026-11-01 00:00:00+00:00"},
        )
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO outbox (conversation_id, channel, user_id, route, payload, lang, "
                "status, attempts, claims, created_at, next_attempt_at, sent_at) VALUES "
                "(1, 'line', 'U1', '{}', '{}', 'ja', 'sent', 2, 2, :old, :old, :sent), "
                "(1, 'line', 'U1', '{}', '{}', 'ja', 'failed', 12, 12, :old, :old, NULL), "
                "(1, 'line', 'U1', '{}', '{}', 'ja', 'pending', 0, 0, :old, :old, NULL)"
            ),
            {"old": "2026-11-01 00:00:00+00:00", "sent": "2026-11-03 00:00:00+00:00"},
        )
    upgraded = datetime.now(UTC)
    schema.upgrade(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(OutboxMessage.status, OutboxMessage.next_attempt_at).order_by(OutboxMessage.id)
        ).all()
    engine.dispose()
    done = {status: aware(at) for status, at in rows}
    assert done["sent"] == datetime(2026, 11, 3, tzinfo=UTC)
    assert upgraded - timedelta(seconds=1) <= done["failed"] <= datetime.now(UTC)
    assert done["pending"] == datetime(2026, 11, 1, tzinfo=UTC)
