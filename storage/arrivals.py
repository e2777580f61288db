"""Events of a chat waiting for their turn (see :class:`storage.models.Arrival`)."""

from datetime import datetime

from sqlalchemy import delete, func, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import insert
from storage.models import Arrival, ProcessedEvent


async def register(
    session: AsyncSession, channel: str, user_id: str, event_id: str, position: int, at: datetime
) -> None:
    """The event arrived at ``at``; a redelivery of it arrives anew."""
    statement = insert(session, Arrival).values(
        channel=channel, user_id=user_id, event_id=event_id, position=position, at=at
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Arrival.channel, Arrival.user_id, Arrival.event_id],
        set_={"at": statement.excluded.at},
    )
    await session.execute(statement)


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
    query = select(func.count()).where(
        Arrival.channel == channel,
        Arrival.user_id == user_id,
        Arrival.position < position,
        Arrival.at > since,
    )
    return bool(await session.scalar(query))


async def predecessors_arrived(
    session: AsyncSession, channel: str, position: int, *, reach: int
) -> bool:
    """Whether every event of the channel numbered ``position - reach`` to ``position - 1``
    has arrived (waiting or applied), for a channel whose event ids are those numbers."""
    ids = [str(number) for number in range(max(0, position - reach), position)]
    waiting = select(Arrival.event_id).where(Arrival.channel == channel, Arrival.event_id.in_(ids))
    applied = select(ProcessedEvent.event_id).where(
        ProcessedEvent.channel == channel, ProcessedEvent.event_id.in_(ids)
    )
    known = union(waiting, applied).subquery()
    return await session.scalar(select(func.count()).select_from(known)) == len(ids)


async def done(session: AsyncSession, channel: str, user_id: str, event_id: str) -> None:
    await session.execute(
        delete(Arrival).where(
            Arrival.channel == channel, Arrival.user_id == user_id, Arrival.event_id == event_id
        )
    )


async def prune(session: AsyncSession, *, before: datetime) -> None:
    """Forget arrivals whose worker never applied them (it died, or gave up)."""
    await session.execute(delete(Arrival).where(Arrival.at < before))
