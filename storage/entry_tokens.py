"""Secure-entry pages offered to chats: each token kept only as a keyed hash."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, EntryToken, table

_TOKENS = table(EntryToken)


async def issue(
    session: AsyncSession, conversation: Conversation, token_index: str, at: datetime
) -> None:
    """A page for the conversation's current step; the pages offered before it, for
    earlier questions or an earlier asking of this one, cannot be used any more."""
    tokens = _TOKENS.c
    await session.execute(
        update(_TOKENS)
        .where(tokens.conversation_id == conversation.id, tokens.used_at.is_(None))
        .values(used_at=at)
    )
    await session.execute(
        insert(_TOKENS).values(
            token_index=token_index,
            conversation_id=conversation.id,
            channel=conversation.channel,
            user_id=conversation.user_id,
            flow=conversation.flow,
            state=conversation.state,
            issued_at=at,
            used_at=None,
        )
    )


async def by_index(session: AsyncSession, token_index: str) -> EntryToken | None:
    found: EntryToken | None = await session.scalar(
        select(EntryToken).where(EntryToken.token_index == token_index)
    )
    return found


async def find(session: AsyncSession, token_id: int, *, lock: bool = False) -> EntryToken | None:
    """The token's row; with ``lock``, locked for the rest of the transaction."""
    query = select(EntryToken).where(EntryToken.id == token_id)
    found: EntryToken | None = await session.scalar(query.with_for_update() if lock else query)
    return found


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Forget tokens issued before ``before``: they lapsed long ago."""
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        delete(EntryToken).where(EntryToken.issued_at < before)
    )
    return result.rowcount or 0
