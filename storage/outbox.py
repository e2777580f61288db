"""The outbox of channel replies: queued in the turn's transaction, claimed per chat
(oldest first, alone or with the rows of the same turn behind it), then marked sent,
rescheduled or given up, and pruned a while after that.

Channel-neutral: a row names its channel, chat user and ``route`` (how the channel
reaches the chat); what a payload means is up to the caller.

Written against the table, not the mapped class: every message passes here two or three
times, and an ORM-enabled statement costs about twice a plain one in CPU
(benchmarks/webhooks.py). Rows come back as detached :class:`OutboxMessage` objects.
"""

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import aware
from storage.models import OutboxMessage, OutboxStatus, table

_OUTBOX = table(OutboxMessage)
_C = _OUTBOX.c


async def add(
    session: AsyncSession,
    *,
    conversation_id: int,
    channel: str,
    user_id: str,
    route: Mapping[str, Any],
    payloads: Sequence[dict[str, Any]],
    lang: str,
    at: datetime,
    leased_until: datetime | None = None,
) -> list[OutboxMessage]:
    """Pending rows, one per payload in that order (one statement on PostgreSQL, one
    per row on SQLite); with ``leased_until``, claimed already by the caller's worker."""
    common = {
        "conversation_id": conversation_id,
        "channel": channel,
        "user_id": user_id,
        "route": dict(route),
        "lang": lang,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "claims": 0 if leased_until is None else 1,
        "leased_until": leased_until,
        "created_at": at,
        "next_attempt_at": at,
        "sent_at": None,
        "last_error": None,
    }
    values = [{**common, "payload": payload} for payload in payloads]
    if not values:
        return []
    statement = insert(_OUTBOX).returning(_C.id, sort_by_parameter_order=True)
    ids = (await session.scalars(statement, values)).all()
    return [OutboxMessage(id=row_id, **row) for row_id, row in zip(ids, values, strict=True)]


async def waiting(session: AsyncSession, channel: str, user_id: str) -> bool:
    """Whether the chat has a row still to be sent. A row being recorded as sent right
    now is waited for (its lock), so the answer is never that row's old status."""
    query = (
        select(_C.id)
        .where(
            _C.channel == channel,
            _C.user_id == user_id,
            _C.status == OutboxStatus.PENDING,
        )
        .limit(1)
        .with_for_update()
    )
    return await session.scalar(query) is not None


async def release(session: AsyncSession, message_ids: Sequence[int]) -> None:
    """Give up the lease of rows not sent (they wait behind a failed one)."""
    await session.execute(update(_OUTBOX).where(_C.id.in_(message_ids)).values(leased_until=None))


async def get(session: AsyncSession, row_id: int) -> OutboxMessage | None:
    found: OutboxMessage | None = await session.get(OutboxMessage, row_id)
    return found


async def claim_next(
    session: AsyncSession, channel: str, user_id: str, *, now: datetime, until: datetime
) -> OutboxMessage | None:
    """Lease the chat's oldest pending row until ``until``; None when there is none, it
    is not due yet, or another worker holds it. The conditional update is the lock:
    of two workers racing for the same row, exactly one gets it back."""
    oldest = (
        select(func.min(_C.id))
        .where(
            _C.channel == channel,
            _C.user_id == user_id,
            _C.status == OutboxStatus.PENDING,
        )
        .scalar_subquery()
    )
    statement = (
        update(_OUTBOX)
        .where(
            _C.id == oldest,
            _C.status == OutboxStatus.PENDING,
            _C.next_attempt_at <= now,
            or_(_C.leased_until.is_(None), _C.leased_until <= now),
        )
        .values(leased_until=until, claims=_C.claims + 1)
        .returning(_OUTBOX)
    )
    found = (await session.execute(statement)).first()
    return None if found is None else _message(found)


async def claim_batch(
    session: AsyncSession, channel: str, user_id: str, *, now: datetime, until: datetime, size: int
) -> list[OutboxMessage]:
    """Lease the chat's oldest pending row (as :func:`claim_next`) and up to ``size - 1``
    pending rows right behind it that share its route (the rest of the same turn) and
    are due. Only the worker holding the oldest row can reach the others, so a batch
    never overlaps another worker's."""
    head = await claim_next(session, channel, user_id, now=now, until=until)
    if head is None:
        return []
    if size == 1:
        return [head]
    query = (
        select(_OUTBOX)
        .where(
            _C.channel == channel,
            _C.user_id == user_id,
            _C.status == OutboxStatus.PENDING,
            _C.id > head.id,
        )
        .order_by(_C.id)
        .limit(size - 1)
    )
    batch = [head]
    for found in (await session.execute(query)).all():
        row = _message(found)
        if row.route != head.route or aware(row.next_attempt_at) > now:
            break
        batch.append(row)
    if len(batch) > 1:
        await session.execute(
            update(_OUTBOX)
            .where(_C.id.in_([row.id for row in batch[1:]]))
            .values(leased_until=until, claims=_C.claims + 1)
        )
    return batch


async def mark_sent(session: AsyncSession, message_ids: Sequence[int], *, at: datetime) -> None:
    await session.execute(
        update(_OUTBOX)
        .where(_C.id.in_(message_ids))
        .values(
            status=OutboxStatus.SENT,
            sent_at=at,
            next_attempt_at=at,  # done: from here on, when the outcome was recorded
            leased_until=None,
            attempts=_C.attempts + 1,
        )
    )


async def reschedule(
    session: AsyncSession, message_id: int, *, retry_at: datetime, error: str
) -> None:
    await session.execute(
        update(_OUTBOX)
        .where(_C.id == message_id)
        .values(
            next_attempt_at=retry_at,
            leased_until=None,
            attempts=_C.attempts + 1,
            last_error=error[:64],
        )
    )


async def give_up(session: AsyncSession, message_id: int, *, at: datetime, error: str) -> None:
    await session.execute(
        update(_OUTBOX)
        .where(_C.id == message_id)
        .values(
            status=OutboxStatus.FAILED,
            next_attempt_at=at,  # done: from here on, when the outcome was recorded
            leased_until=None,
            attempts=_C.attempts + 1,
            last_error=error[:64],
        )
    )


async def due_now(session: AsyncSession, channel: str, user_id: str, *, now: datetime) -> None:
    """Make the chat's pending rows that wait for a retry due at ``now``."""
    await session.execute(
        update(_OUTBOX)
        .where(
            _C.channel == channel,
            _C.user_id == user_id,
            _C.status == OutboxStatus.PENDING,
            _C.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
    )


async def pending(session: AsyncSession, channel: str, user_id: str) -> int:
    """How many of the chat's rows are still to be sent."""
    query = select(func.count()).where(
        _C.channel == channel,
        _C.user_id == user_id,
        _C.status == OutboxStatus.PENDING,
    )
    return int(await session.scalar(query) or 0)


async def waiting_chats(
    session: AsyncSession, channel: str, user_ids: Collection[str]
) -> list[str]:
    """Which of these chats of ``channel`` have a row still to be sent."""
    query = (
        select(_C.user_id)
        .where(
            _C.channel == channel,
            _C.user_id.in_(user_ids),
            _C.status == OutboxStatus.PENDING,
        )
        .distinct()
    )
    return list((await session.scalars(query)).all())


async def due_chats(session: AsyncSession, *, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(channel, user id) of chats with a pending row that could be sent now."""
    query = (
        select(_C.channel, _C.user_id)
        .where(
            _C.status == OutboxStatus.PENDING,
            _C.next_attempt_at <= now,
            or_(_C.leased_until.is_(None), _C.leased_until <= now),
        )
        .distinct()
        .limit(limit)
    )
    return [(channel, user_id) for channel, user_id in (await session.execute(query)).all()]


async def prune(session: AsyncSession, *, before: datetime, batch: int) -> int:
    """Delete up to ``batch`` sent or failed rows whose outcome was recorded before
    ``before``; pending rows stay whatever their age. Served by ``ix_outbox_due``."""
    oldest = (
        select(_C.id)
        .where(
            _C.status.in_((OutboxStatus.SENT, OutboxStatus.FAILED)),
            _C.next_attempt_at < before,
        )
        .limit(batch)
    )
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        delete(_OUTBOX).where(_C.id.in_(oldest))
    )
    return result.rowcount or 0


def _message(row: Row[Any]) -> OutboxMessage:
    return OutboxMessage(**row._mapping)
