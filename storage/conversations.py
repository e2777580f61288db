"""Conversation rows, the processed-event ledger and the transcript."""

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, bindparam, delete, exists, select, text, tuple_, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import aware, insert
from storage.models import (
    CallCheck,
    Conversation,
    Direction,
    ProcessedEvent,
    TranscriptEntry,
    table,
)

#: The slot left in an enrollment wiped for idleness.
EXPIRED = "expired"


# Written out because SQLAlchemy 2.0 compiles its dialects' ON CONFLICT inserts afresh
# on every execution (they have no cache key); this runs on every message.
_CLAIM = text(
    "INSERT INTO processed_events (channel, event_id, position, at)"
    " VALUES (:channel, :event_id, :position, :at) ON CONFLICT DO NOTHING RETURNING event_id"
).bindparams(bindparam("at", type_=DateTime(timezone=True)))


async def claim_event(
    session: AsyncSession, channel: str, event_id: str, at: datetime, position: int | None = None
) -> bool:
    """Record the event id (and its position); False when it was processed before (a
    redelivery)."""
    values = {"channel": channel, "event_id": event_id, "position": position, "at": at}
    claimed = await session.execute(_CLAIM, values)
    return claimed.first() is not None


async def prune_events(session: AsyncSession, *, before: datetime, batch: int) -> int:
    """Delete up to ``batch`` processed-event rows recorded before ``before``."""
    key = tuple_(ProcessedEvent.channel, ProcessedEvent.event_id)
    oldest = (
        select(ProcessedEvent.channel, ProcessedEvent.event_id)
        .where(ProcessedEvent.at < before)
        .limit(batch)
    )
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        delete(ProcessedEvent).where(key.in_(oldest))
    )
    return result.rowcount or 0


async def lock(
    session: AsyncSession,
    channel: str,
    user_id: str,
    *,
    flow: str,
    state: str,
    lang: str,
    at: datetime,
) -> tuple[Conversation, bool]:
    """The conversation row, locked until the transaction ends, and whether it is new
    (then it starts at ``flow``'s ``state``). A chat that has one pays one statement."""
    query = (
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.user_id == user_id)
        .with_for_update()
    )
    found = (await session.scalars(query)).one_or_none()
    if found is not None:
        return found, False
    statement = (
        insert(session, Conversation)
        .values(
            channel=channel,
            user_id=user_id,
            flow=flow,
            state=state,
            slots={},
            lang=lang,
            started_at=at,
            updated_at=at,
        )
        .on_conflict_do_nothing()
        .returning(Conversation.id)
    )
    # Another worker may create it first: then this one waits for its row lock.
    created = (await session.scalar(statement)) is not None
    return (await session.scalars(query)).one(), created


def minute_count(row: Conversation, now: datetime) -> int:
    """The chat user's messages counted in the current minute so far."""
    minute = now.replace(second=0, microsecond=0)
    started = row.minute_start
    return row.minute_count if started is not None and aware(started) == minute else 0


def count_message(row: Conversation, now: datetime) -> None:
    """Count one message on the locked row (written with the rest of it)."""
    row.minute_count = minute_count(row, now) + 1
    row.minute_start = now.replace(second=0, microsecond=0)


async def find(session: AsyncSession, channel: str, user_id: str) -> Conversation | None:
    query = select(Conversation).where(
        Conversation.channel == channel, Conversation.user_id == user_id
    )
    found: Conversation | None = await session.scalar(query)
    return found


async def transcript(session: AsyncSession, conversation_id: int) -> list[TranscriptEntry]:
    query = (
        select(TranscriptEntry)
        .where(TranscriptEntry.conversation_id == conversation_id)
        .order_by(TranscriptEntry.id)
    )
    return list((await session.scalars(query)).all())


async def said(session: AsyncSession, conversation_id: int, key: str) -> bool:
    """Whether the bot has already said ``key`` in this conversation: asked of the
    database, so only the answer comes back, however long the conversation."""
    entries = table(TranscriptEntry).c
    query = select(
        exists().where(
            entries.conversation_id == conversation_id,
            entries.direction == Direction.OUT,
            entries.body["key"].as_string() == key,
        )
    )
    return bool(await session.scalar(query))


async def expire_idle(
    session: AsyncSession,
    *,
    flow: str,
    states: Collection[str],
    idle_since: datetime,
    closed: str,
) -> int:
    """Wipe what the conversations of ``flow`` left unfinished at ``states`` since
    ``idle_since`` hold (card data, hashes, call checks), leaving only a mark so the
    member is told on return."""
    idle = select(Conversation.id, Conversation.slots).where(
        Conversation.flow == flow,
        Conversation.state.in_(states),
        Conversation.updated_at < idle_since,
    )
    rows = (await session.execute(idle.with_for_update(skip_locked=True))).all()
    # Only enrollments holding something: a chat opened and left has nothing to wipe.
    ids = [row.id for row in rows if row.slots]
    if ids:
        await session.execute(delete(CallCheck).where(CallCheck.conversation_id.in_(ids)))
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_(ids))
            .values(state=closed, slots={EXPIRED: True})
        )
    return len(ids)
