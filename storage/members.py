"""Members and the chat accounts linked to them."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChatIdentity, Member


async def net_answer_id_taken(session: AsyncSession, net_answer_id: str) -> bool:
    query = select(exists().where(Member.net_answer_id == net_answer_id))
    return bool(await session.scalar(query))


async def card_registered(session: AsyncSession, card_index: str) -> bool:
    return bool(await session.scalar(select(exists().where(Member.card_index == card_index))))


async def register(
    session: AsyncSession,
    *,
    channel: str,
    user_id: str,
    at: datetime,
    **fields: Any,
) -> Member:
    """Create the member and link this chat account to it. A re-registration replaces the
    card's earlier member, and with it every chat account and service linked to it."""
    await session.execute(delete(Member).where(Member.card_index == fields["card_index"]))
    member = Member(created_at=at, **fields)
    session.add(member)
    await session.flush()
    await session.execute(
        delete(ChatIdentity).where(ChatIdentity.channel == channel, ChatIdentity.user_id == user_id)
    )
    session.add(ChatIdentity(channel=channel, user_id=user_id, member_id=member.id, linked_at=at))
    return member


async def linked(session: AsyncSession, channel: str, user_id: str) -> Member | None:
    query = (
        select(Member)
        .join(ChatIdentity, ChatIdentity.member_id == Member.id)
        .where(ChatIdentity.channel == channel, ChatIdentity.user_id == user_id)
    )
    return await session.scalar(query)
