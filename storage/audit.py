"""The operators' audit log: one row per action on a member's links, appended and
never changed. Nothing in the bot deletes from it."""

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry


def record(
    session: AsyncSession, at: datetime, action: str, net_answer_id: str, **detail: Any
) -> None:
    session.add(AuditEntry(at=at, action=action, net_answer_id=net_answer_id, detail=detail))
