"""Landline identity checks: the member calls a toll-free number from the registered
phone; the telephony system reports the caller, and a pending check is marked passed."""

import logging
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import aware
from storage.models import CallCheck, Conversation

logger = logging.getLogger(__name__)


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


async def record_call(
    session: AsyncSession, phone_index: str, now: datetime, *, waiting_state: str
) -> int:
    """Pass the one pending, unexpired check for this phone whose conversation still
    waits for the call; returns 1, or 0 when none waits. When several wait for the same
    number, none passes: one call cannot prove two enrollments, and one of them is
    likely someone else's."""
    pending = (
        select(CallCheck)
        .join(Conversation, Conversation.id == CallCheck.conversation_id)
        .where(
            CallCheck.phone_index == phone_index,
            CallCheck.verified_at.is_(None),
            CallCheck.expires_at > now,
            Conversation.state == waiting_state,
        )
        .with_for_update(of=CallCheck)  # the chat side locks conversations first
    )
    checks = list((await session.scalars(pending)).all())
    if len(checks) > 1:
        logger.warning(
            "a call matched %s waiting checks (conversations %s); none passed",
            len(checks),
            [check.conversation_id for check in checks],
        )
        return 0
    for check in checks:
        check.verified_at = now
    return len(checks)


async def find(session: AsyncSession, conversation_id: int) -> CallCheck | None:
    query = select(CallCheck).where(CallCheck.conversation_id == conversation_id)
    found: CallCheck | None = await session.scalar(query)
    return found


def passed(check: CallCheck | None) -> bool:
    return check is not None and check.verified_at is not None


def expired(check: CallCheck, now: datetime) -> bool:
    return check.verified_at is None and aware(check.expires_at) <= now


async def finish(session: AsyncSession, conversation_id: int) -> None:
    await session.execute(delete(CallCheck).where(CallCheck.conversation_id == conversation_id))
