"""Failure counting and lockouts, in the database so every worker sees the same count."""

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import aware, insert
from storage.models import Lockout

logger = logging.getLogger(__name__)


async def locked_until(session: AsyncSession, subject: str, now: datetime) -> datetime | None:
    row = await session.get(Lockout, subject, with_for_update=True)
    if row is None or row.locked_until is None:
        return None
    until = aware(row.locked_until)
    return until if until > now else None


async def fail(
    session: AsyncSession,
    subject: str,
    now: datetime,
    *,
    limit: int,
    window: timedelta,
    lock_for: timedelta,
) -> datetime | None:
    """Count one failure; returns the lock's end once ``limit`` failures fell within
    ``window``. A lock that has run out starts a fresh count."""
    await session.execute(
        insert(session, Lockout)
        .values(subject=subject, failures=0, first_failure_at=now, locked_until=None)
        .on_conflict_do_nothing()
    )
    row = await session.get(Lockout, subject, with_for_update=True, populate_existing=True)
    assert row is not None
    stale = now - aware(row.first_failure_at) > window
    expired = row.locked_until is not None and aware(row.locked_until) <= now
    if stale or expired:
        row.failures, row.first_failure_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + lock_for
        # Subjects name a chat user or a card's keyed index, never a card number.
        logger.warning(
            "lockout subject=%s failures=%s until=%s",
            subject,
            row.failures,
            row.locked_until.isoformat(),
        )
    await session.flush()
    return row.locked_until


async def clear(session: AsyncSession, subject: str) -> None:
    await session.execute(delete(Lockout).where(Lockout.subject == subject))


async def failures(session: AsyncSession, subject: str) -> int:
    return (await session.scalar(select(Lockout.failures).where(Lockout.subject == subject))) or 0
