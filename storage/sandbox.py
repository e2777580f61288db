"""The sandbox outbox: SMS and mail the sandbox gateways would have sent."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SandboxMessage
from storage.vault import Vault

PURPOSE = "sandbox-message"


@dataclass(frozen=True)
class Delivered:
    id: int
    at: datetime
    kind: str
    to: str
    text: str


async def record(
    session: AsyncSession,
    vault: Vault,
    *,
    kind: str,
    to: str,
    text: str,
    conversation_id: int | None,
    at: datetime,
) -> None:
    session.add(
        SandboxMessage(
            conversation_id=conversation_id,
            at=at,
            kind=kind,
            recipient=to,
            body_token=vault.encrypt(text, PURPOSE),
        )
    )


async def read(
    session: AsyncSession, vault: Vault, *, after_id: int = 0, conversation_id: int | None = None
) -> list[Delivered]:
    """Oldest first."""
    query = select(SandboxMessage).where(SandboxMessage.id > after_id).order_by(SandboxMessage.id)
    if conversation_id is not None:
        query = query.where(SandboxMessage.conversation_id == conversation_id)
    rows = (await session.scalars(query)).all()
    return [
        Delivered(row.id, row.at, row.kind, row.recipient, vault.decrypt(row.body_token, PURPOSE))
        for row in rows
    ]


async def last_id(session: AsyncSession) -> int:
    query = select(SandboxMessage.id).order_by(SandboxMessage.id.desc()).limit(1)
    return (await session.scalar(query)) or 0
