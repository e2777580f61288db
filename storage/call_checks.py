"""Landline identity checks: the member calls a toll-free number from the registered
phone; the telephony system reports the caller, and a pending check is marked passed."""

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import aware
from storage.models import CallCheck


async def start(
    session: AsyncSession, conversation_id: int, phone_index: str, now: datetime, expires: datetime
) -> None:
    await session.execute(delete(CallCheck).where(CallCheck.conversation_id == conversation_id))
    session.add(
        CallCheck(
            conversation_id=conversation_id,
            phone_index=phone_index,
            started_at=now,
            expires_at=expires,
            verified_at=None,
        )
    )


async def record_call(session: AsyncSession, phone_index: str, now: datetime) -> int:
    """Mark every pending, unexpired check for this phone as passed; returns how many."""
    result = await session.execute(
        update(CallCheck)
        .where(
            CallCheck.phone_index == phone_index,
            CallCheck.verified_at.is_(None),
            CallCheck.expires_at > now,
        )
        .values(verified_at=now)
        .returning(CallCheck.conversation_id)
    )
    return len(result.all())


async def find(session: AsyncSession, conversation_id: int) -> CallCheck | None:
    return await session.scalar(
        select(CallCheck).where(CallCheck.conversation_id == conversation_id)
    )


def passed(check: CallCheck | None) -> bool:
    return check is not None and check.verified_at is not None


def expired(check: CallCheck, now: datetime) -> bool:
    return check.verified_at is None and aware(check.expires_at) <= now


async def finish(session: AsyncSession, conversation_id: int) -> None:
    await session.execute(delete(CallCheck).where(CallCheck.conversation_id == conversation_id))
