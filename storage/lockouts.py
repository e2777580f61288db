"""Failure counting and lockouts, in the database so every worker sees the same count.

A check first *holds* its subject until the transaction ends, so concurrent checks of
one card or one chat user (on any worker) take turns, and none can slip past a count
another is about to raise. Holding writes nothing: on PostgreSQL it is a transaction
advisory lock on the subject (a row may not exist yet, and most checks pass), on SQLite
the write lock every transaction takes up front. Only a failure writes a row.
"""

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import aware, insert
from storage.models import Lockout

logger = logging.getLogger(__name__)


async def hold(session: AsyncSession, subject: str, now: datetime) -> datetime | None:
    """Hold the subject for this transaction; returns the end of an active lockout."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_ADVISORY_LOCK, {"key": _lock_key(subject)})
    until = await session.scalar(select(Lockout.locked_until).where(Lockout.subject == subject))
    return _active_until(until, now)


async def fail(
    session: AsyncSession, subject: str, now: datetime, *, limit: int, period: timedelta
) -> datetime | None:
    """Count one failure; once ``limit`` failures fell within ``period``, the subject is
    locked out for ``period`` and the lock's end is returned. An ended lock, a stale
    count or no count yet starts afresh from this failure."""
    row = await _held(session, subject, now)
    failures, first = row.failures, aware(row.first_failure_at)
    ended = row.locked_until is not None and aware(row.locked_until) <= now
    if failures == 0 or ended or now - first > period:
        failures, first = 0, now
    failures += 1
    until = now + period if failures >= limit else None
    await session.execute(
        update(Lockout)
        .where(Lockout.subject == subject)
        .values(failures=failures, first_failure_at=first, locked_until=until)
    )
    if until:
        # Subjects name a chat user or a card's keyed index, never a card number.
        logger.warning(
            "lockout subject=%s failures=%s until=%s", subject, failures, until.isoformat()
        )
    return until


async def failures(session: AsyncSession, subject: str, now: datetime, *, period: timedelta) -> int:
    """The current count (a read: no lock); 0 once it went stale or its lock ended."""
    row = (
        await session.execute(select(Lockout).where(Lockout.subject == subject))
    ).scalar_one_or_none()
    if row is None or now - aware(row.first_failure_at) > period:
        return 0
    if row.locked_until is not None and aware(row.locked_until) <= now:
        return 0
    return row.failures


async def locked(session: AsyncSession, now: datetime) -> list[str]:
    """The subjects locked out now (keyed hashes and ids, never a card number)."""
    query = select(Lockout.subject).where(Lockout.locked_until > now).order_by(Lockout.subject)
    return list((await session.scalars(query)).all())


async def clear(session: AsyncSession, subject: str, now: datetime) -> None:
    """Forget the subject's failures, which the caller holds (:func:`hold`): one
    statement, which writes nothing when there is nothing to forget."""
    await session.execute(
        update(Lockout)
        .where(Lockout.subject == subject)
        .where(or_(Lockout.failures > 0, Lockout.locked_until.is_not(None)))
        .values(failures=0, first_failure_at=now, locked_until=None)
    )


async def prune(session: AsyncSession, now: datetime, *, period: timedelta) -> int:
    """Forget subjects with no active lock and no count worth keeping, so the table
    (keyed, among others, by cards' keyed indexes) does not keep them for ever."""
    idle = (
        delete(Lockout)
        .where(or_(Lockout.locked_until.is_(None), Lockout.locked_until <= now))
        .where(or_(Lockout.failures == 0, Lockout.first_failure_at < now - period))
    )
    result: CursorResult[Any] = await session.execute(idle)  # type: ignore[assignment]
    return result.rowcount or 0


async def _held(session: AsyncSession, subject: str, now: datetime) -> Any:
    """Create-or-lock in one statement: safe even against a concurrent prune."""
    statement = (
        insert(session, Lockout)
        .values(subject=subject, failures=0, first_failure_at=now, locked_until=None)
        .on_conflict_do_update(index_elements=[Lockout.subject], set_={"subject": subject})
        .returning(Lockout.failures, Lockout.first_failure_at, Lockout.locked_until)
    )
    return (await session.execute(statement)).one()


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def _lock_key(subject: str) -> int:
    """The subject as PostgreSQL's 64-bit advisory lock key."""
    return int.from_bytes(hashlib.blake2b(subject.encode(), digest_size=8).digest(), signed=True)


def _active_until(locked_until: datetime | None, now: datetime) -> datetime | None:
    if locked_until is None:
        return None
    until = aware(locked_until)
    return until if until > now else None
