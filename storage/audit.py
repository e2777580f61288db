"""The operators' audit log: one row per action on a member's links or of a support
agent in the console, appended and never changed. Nothing in the bot updates or
deletes from it."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry


def record(
    session: AsyncSession, at: datetime, action: str, net_answer_id: str, **detail: Any
) -> None:
    session.add(AuditEntry(at=at, action=action, net_answer_id=net_answer_id, detail=detail))


def record_agent(
    session: AsyncSession, at: datetime, agent: str, action: str, **detail: Any
) -> None:
    """A support agent's action; no Net Answer ID was typed."""
    session.add(AuditEntry(at=at, action=action, net_answer_id="", detail=detail, agent=agent))


async def entries(session: AsyncSession) -> list[AuditEntry]:
    """Every row, oldest first."""
    found = await session.execute(select(AuditEntry).order_by(AuditEntry.id))
    return list(found.scalars())
