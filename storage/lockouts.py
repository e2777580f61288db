"""Failure counting and lockouts, in the database so every worker sees the same count.

A check first *holds* its subject: the row is created if need be and locked until the
transaction ends, so concurrent checks of one card or one chat user (on any worker)
take turns, and none can slip past a count another is about to raise.
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import aware, insert
from storage.models import Lockout

logger = logging.getLogger(__name__)


async def hold(session: AsyncSession, subject: str, now: datetime) -> datetime | None:
    """Lock the subject's row for this transaction; returns the end of an active lockout."""
    row = await _held(session, subject, now)
    if row.locked_until is None:
        return None
    until = aware(row.locked_until)
    return until if until > now else None


async def fail(
    session: AsyncSession, subject: str, now: datetime, *, limit: int, period: timedelta
) -> datetime | None:
    """Count one failure; once ``limit`` failures fell within ``period``, the subject is
    locked out for ``period`` and the lock's end is returned. An ended lock or a stale
    count starts afresh."""
    row = await _held(session, subject, now)
    stale = now - aware(row.first_failure_at) > period
    ended = row.locked_until is not None and aware(row.locked_until) <= now
    if stale or ended:
        row.failures, row.first_failure_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + period
        # Subjects name a chat user or a card's keyed index, never a card number.
        logger.warning(
            "lockout subject=%s failures=%s until=%s",
            subject,
            row.failures,
            row.locked_until.isoformat(),
        )
    await session.flush()
    return row.locked_until


async def failures(session: AsyncSession, subject: str, now: datetime) -> int:
    return (await _held(session, subject, now)).failures


async def clear(session: AsyncSession, subject: str, now: datetime) -> None:
    """Start the count afresh. The row stays (reset, not deleted), so a check waiting
    for it on another worker finds it when its turn comes."""
    row = await _held(session, subject, now)
    row.failures, row.first_failure_at, row.locked_until = 0, now, None


async def _held(session: AsyncSession, subject: str, now: datetime) -> Lockout:
    await session.execute(
        insert(session, Lockout)
        .values(subject=subject, failures=0, first_failure_at=now, locked_until=None)
        .on_conflict_do_nothing()
    )
    row = await session.get(Lockout, subject, with_for_update=True, populate_existing=True)
    assert row is not None
    return row
