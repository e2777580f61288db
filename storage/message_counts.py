"""Messages per chat user per minute, counted in the database so that the limit holds
however many workers share the load."""

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import insert
from storage.models import MessageCount


async def count(session: AsyncSession, subject: str, now: datetime) -> int:
    """Count one message in the current minute; returns the minute's count so far."""
    window = now.replace(second=0, microsecond=0)
    created = await session.scalar(
        insert(session, MessageCount)
        .values(subject=subject, window_start=window, count=1)
        .on_conflict_do_nothing()
        .returning(MessageCount.count)
    )
    if created is not None:  # a new minute: forget the subject's older ones
        await session.execute(
            delete(MessageCount).where(
                MessageCount.subject == subject, MessageCount.window_start < window
            )
        )
        return 1
    count = await session.scalar(
        update(MessageCount)
        .where(MessageCount.subject == subject, MessageCount.window_start == window)
        .values(count=MessageCount.count + 1)
        .returning(MessageCount.count)
    )
    return count or 1  # the row exists: this transaction inserted it or holds it
