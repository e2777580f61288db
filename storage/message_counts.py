"""Messages per chat user per minute, counted in the database so that the limit holds
however many workers share the load."""

from datetime import datetime

from sqlalchemy import DateTime, bindparam, delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import MessageCount

# Written out because SQLAlchemy 2.0 compiles its dialects' ON CONFLICT inserts afresh
# on every execution (they have no cache key); this runs on every message. Both
# SQLite (3.35+) and PostgreSQL take it as it is.
_COUNT = text(
    "INSERT INTO message_counts (subject, window_start, count) VALUES (:subject, :window, 1) "
    "ON CONFLICT (subject, window_start) DO UPDATE SET count = message_counts.count + 1 "
    "RETURNING count"
).bindparams(bindparam("window", type_=DateTime(timezone=True)))


async def count(session: AsyncSession, subject: str, now: datetime) -> int:
    """Count one message in the current minute (one statement, which also holds the
    minute's row until the transaction ends); returns the minute's count so far."""
    window = now.replace(second=0, microsecond=0)
    sent: int = (await session.execute(_COUNT, {"subject": subject, "window": window})).scalar_one()
    if sent == 1:  # a new minute: forget the subject's older ones
        await session.execute(
            delete(MessageCount).where(
                MessageCount.subject == subject, MessageCount.window_start < window
            )
        )
    return sent
