"""Members and the chat accounts linked to them."""

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, tuple_, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import insert
from storage.models import ChatIdentity, Conversation, Member


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
) -> int:
    """Create the member and link this chat account to it; returns the member's id.

    A re-registration replaces the card's earlier member in place (one upsert on the
    card's index, so two enrollments of one card finishing at once cannot both win)
    and unlinks every chat account linked to it before."""
    values = {**fields, "created_at": at}
    statement = (
        insert(session, Member)
        .values(**values)
        .on_conflict_do_update(index_elements=[Member.card_index], set_=values)
        .returning(Member.id)
    )
    member_id: int = await session.scalar(statement)
    await session.execute(
        delete(ChatIdentity).where(
            or_(
                ChatIdentity.member_id == member_id,
                and_(ChatIdentity.channel == channel, ChatIdentity.user_id == user_id),
            )
        )
    )
    session.add(ChatIdentity(channel=channel, user_id=user_id, member_id=member_id, linked_at=at))
    return member_id


async def linked(session: AsyncSession, channel: str, user_id: str) -> Member | None:
    query = (
        select(Member)
        .join(ChatIdentity, ChatIdentity.member_id == Member.id)
        .where(ChatIdentity.channel == channel, ChatIdentity.user_id == user_id)
    )
    found: Member | None = await session.scalar(query)
    return found


async def unlink(session: AsyncSession, channel: str, user_id: str) -> None:
    """This chat account is no longer linked; the member stays, as do other chats. The
    member's chosen language no longer holds for the chat: the platform's applies again."""
    await session.execute(
        delete(ChatIdentity).where(ChatIdentity.channel == channel, ChatIdentity.user_id == user_id)
    )
    await session.execute(
        update(Conversation)
        .where(Conversation.channel == channel, Conversation.user_id == user_id)
        .values(lang_chosen=False)
    )


async def choose_language(session: AsyncSession, member: Member, lang: str) -> None:
    """The member's language, for every chat linked to the member from now on."""
    member.lang = lang
    chats = select(ChatIdentity.channel, ChatIdentity.user_id).where(
        ChatIdentity.member_id == member.id
    )
    await session.execute(
        update(Conversation)
        .where(tuple_(Conversation.channel, Conversation.user_id).in_(chats))
        .values(lang=lang, lang_chosen=True)
    )


async def by_net_answer_id(session: AsyncSession, net_answer_id: str) -> Member | None:
    found: Member | None = await session.scalar(
        select(Member).where(Member.net_answer_id == net_answer_id)
    )
    return found


async def by_card(session: AsyncSession, card_index: str) -> Member | None:
    found: Member | None = await session.scalar(
        select(Member).where(Member.card_index == card_index)
    )
    return found


async def add_known(session: AsyncSession, *, at: datetime, **fields: Any) -> Member:
    """The member as the issuer knows them (registered before this bot), kept once:
    their password stays with the issuer (``password_hash`` empty)."""
    await session.execute(
        insert(session, Member)
        .values(**fields, password_hash="", created_at=at)
        .on_conflict_do_nothing(index_elements=[Member.card_index])
    )
    member = await by_card(session, fields["card_index"])
    if member is None:  # cannot be: inserted or found above, in this transaction
        raise LookupError("the member was not kept")
    return member


async def link(
    session: AsyncSession, channel: str, user_id: str, member: Member, at: datetime
) -> None:
    """Link this chat account to the member (replacing any earlier link of this chat);
    the member's other chats stay linked. Signing in again to the same member keeps
    the link's date and counts as a use."""
    kept = await chat_link(session, channel, user_id)
    if kept is not None and kept.member_id == member.id:
        kept.last_used_at = at
        return
    await unlink(session, channel, user_id)
    session.add(
        ChatIdentity(
            channel=channel, user_id=user_id, member_id=member.id, linked_at=at, last_used_at=at
        )
    )


async def chat_link(session: AsyncSession, channel: str, user_id: str) -> ChatIdentity | None:
    found: ChatIdentity | None = await session.get(ChatIdentity, (channel, user_id))
    return found


async def chats(session: AsyncSession, member: Member) -> list[ChatIdentity]:
    """Every chat account linked to the member, oldest link first."""
    query = (
        select(ChatIdentity)
        .where(ChatIdentity.member_id == member.id)
        .order_by(ChatIdentity.linked_at, ChatIdentity.channel, ChatIdentity.user_id)
    )
    return list(await session.scalars(query))


async def unlink_all(session: AsyncSession, member: Member) -> int:
    """No chat account is linked to the member any more; returns how many were."""
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        delete(ChatIdentity).where(ChatIdentity.member_id == member.id)
    )
    return result.rowcount or 0
