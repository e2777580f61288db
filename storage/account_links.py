"""Runs of LINE's account linking: issued link tokens, the sign-in page's progress,
and the single-use nonces LINE brings back in its ``accountLink`` event. Tokens and
nonces are kept only as keyed hashes."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AccountLink


def issued(
    session: AsyncSession, channel: str, user_id: str, token_index: str, at: datetime
) -> None:
    session.add(
        AccountLink(
            channel=channel, user_id=user_id, token_index=token_index, issued_at=at, slots={}
        )
    )


async def by_token(
    session: AsyncSession, token_index: str, *, lock: bool = False
) -> AccountLink | None:
    """The run of this link token; with ``lock``, locked for the rest of the transaction."""
    query = select(AccountLink).where(AccountLink.token_index == token_index)
    found: AccountLink | None = await session.scalar(query.with_for_update() if lock else query)
    return found


async def by_nonce(session: AsyncSession, nonce_index: str) -> AccountLink | None:
    """The run that made this nonce, locked for the rest of the transaction."""
    query = select(AccountLink).where(AccountLink.nonce_index == nonce_index).with_for_update()
    found: AccountLink | None = await session.scalar(query)
    return found


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Forget runs issued before ``before``: their tokens and nonces lapsed long ago."""
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        delete(AccountLink).where(AccountLink.issued_at < before)
    )
    return result.rowcount or 0
