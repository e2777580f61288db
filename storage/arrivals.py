"""Events of a chat waiting for their turn (see :class:`storage.models.Arrival`)."""

from datetime import datetime

from sqlalchemy import DateTime, bindparam, delete, exists, select, text, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Arrival, ProcessedEvent, table

_ARRIVALS = table(Arrival)

# Written out, as storage/conversations.py's claim: SQLAlchemy compiles its dialects'
# ON CONFLICT inserts afresh on every execution, and this runs on many messages.
_REGISTER = text(
    "INSERT INTO arrivals (channel, user_id, event_id, position, at)"
    " VALUES (:channel, :user_id, :event_id, :position, :at)"
    " ON CONFLICT (channel, user_id, event_id) DO UPDATE SET at = excluded.at"
).bindparams(bindparam("at", type_=DateTime(timezone=True)))


async def register(
    session: AsyncSession, channel: str, user_id: str, event_id: str, position: int, at: datetime
) -> None:
    """The event arrived at ``at``; a redelivery of it arrives anew."""
    values = {
        "channel": channel,
        "user_id": user_id,
        "event_id": event_id,
        "position": position,
        "at": at,
    }
    await session.execute(_REGISTER, values)


async def still_here(
    session: AsyncSession, channel: str, user_id: str, event_id: str, at: datetime
) -> None:
    """A worker still holds the event (waiting for an earlier one, or hashing) at ``at``.
    A row locked meanwhile is being applied or renewed by another worker: skipped."""
    unlocked = (
        select(Arrival.event_id)
        .where(Arrival.channel == channel, Arrival.user_id == user_id, Arrival.event_id == event_id)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    await session.execute(
        update(Arrival)
        .where(Arrival.channel == channel, Arrival.user_id == user_id, Arrival.event_id == unlocked)
        .values(at=at)
    )


async def earlier_waiting(
    session: AsyncSession, channel: str, user_id: str, position: int, *, since: datetime
) -> bool:
    """Whether an event of the chat that came before ``position`` is still waiting: it
    arrived, or its worker said it still holds it, after ``since`` (before that, its
    worker is gone, and the platform will deliver it again)."""
    waiting = _ARRIVALS.c
    query = select(
        exists().where(
            waiting.channel == channel,
            waiting.user_id == user_id,
            waiting.position < position,
            waiting.at > since,
        )
    )
    return bool(await session.scalar(query))


async def arrived_among(session: AsyncSession, channel: str, first: int, last: int) -> list[int]:
    """Which events of the channel numbered ``first`` to ``last - 1`` have arrived
    (waiting or applied), for a channel whose events are numbered one after another."""
    waiting = select(Arrival.position.label("position")).where(
        Arrival.channel == channel, Arrival.position >= first, Arrival.position < last
    )
    applied = select(ProcessedEvent.position).where(
        ProcessedEvent.channel == channel,
        ProcessedEvent.position >= first,
        ProcessedEvent.position < last,
    )
    known = union(waiting, applied).subquery()
    return [int(number) for number in (await session.scalars(select(known.c.position))).all()]


async def done(session: AsyncSession, channel: str, user_id: str, event_id: str) -> None:
    await session.execute(
        delete(Arrival).where(
            Arrival.channel == channel, Arrival.user_id == user_id, Arrival.event_id == event_id
        )
    )


async def prune(session: AsyncSession, *, before: datetime) -> None:
    """Forget arrivals whose worker never applied them (it died, or gave up)."""
    await session.execute(delete(Arrival).where(Arrival.at < before))
