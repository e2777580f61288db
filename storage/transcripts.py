"""Transcript rows: written in each turn's transaction, read by support agents.

A transcript belongs to a conversation (one chat user on one channel); its rows are in
id order, each turn an event row followed by the rows of its replies.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import aware
from storage.models import ChatIdentity, Conversation, Direction, Member, TranscriptEntry, table


@dataclass(frozen=True)
class Turn:
    """Where a recorded turn happened: written on each of its rows."""

    conversation_id: int
    at: datetime
    channel: str
    chat_user: str  # a keyed hash of the platform's user id
    flow: str
    flow_version: str
    state_before: str
    state_after: str


@dataclass(frozen=True)
class Summary:
    """A conversation as the transcript shows it, and what its row holds now."""

    id: int
    channel: str
    chat_user: str | None
    started: datetime  # its first recorded row
    last_at: datetime  # its last recorded row
    last_state: str  # where its last recorded turn left it
    current_state: str  # the conversation row (the idle sweep changes it unrecorded)
    current_slots: dict[str, Any]
    lang: str


async def record(
    session: AsyncSession, turn: Turn, event: dict[str, Any], replies: Sequence[dict[str, Any]]
) -> None:
    """The turn's event, then its replies, in the turn's transaction, numbered in that
    order: one executemany, which both drivers send as one statement."""
    where = {
        "conversation_id": turn.conversation_id,
        "at": turn.at,
        "channel": turn.channel,
        "chat_user": turn.chat_user,
        "flow": turn.flow,
        "flow_version": turn.flow_version,
        "state_before": turn.state_before,
        "state_after": turn.state_after,
    }
    bodies = [(Direction.IN, event), *((Direction.OUT, reply) for reply in replies)]
    rows = [{**where, "direction": direction, "body": body} for direction, body in bodies]
    await session.execute(insert(table(TranscriptEntry)), rows)


async def summaries(
    session: AsyncSession,
    *,
    channel: str | None = None,
    since: datetime | None = None,
    net_answer_id: str | None = None,
    conversation_id: int | None = None,
) -> list[Summary]:
    """Every conversation with a recorded row, oldest first: of ``channel``, active at
    or after ``since``, of chats linked now to the member ``net_answer_id``."""
    grouped = select(
        TranscriptEntry.conversation_id.label("id"),
        func.min(TranscriptEntry.at).label("started"),
        func.max(TranscriptEntry.at).label("last_at"),
        func.max(TranscriptEntry.id).label("last_row"),
    ).group_by(TranscriptEntry.conversation_id)
    if conversation_id is not None:
        grouped = grouped.where(TranscriptEntry.conversation_id == conversation_id)
    span = grouped.subquery()
    last = TranscriptEntry
    query = (
        select(span.c.id, span.c.started, span.c.last_at, last, Conversation)
        .join(last, last.id == span.c.last_row)
        .join(Conversation, Conversation.id == span.c.id)
        .order_by(span.c.started, span.c.id)
    )
    if channel is not None:
        query = query.where(Conversation.channel == channel)
    if since is not None:
        query = query.where(span.c.last_at >= since)
    if net_answer_id is not None:
        query = (
            query.join(
                ChatIdentity,
                (ChatIdentity.channel == Conversation.channel)
                & (ChatIdentity.user_id == Conversation.user_id),
            )
            .join(Member, Member.id == ChatIdentity.member_id)
            .where(Member.net_answer_id == net_answer_id)
        )
    found = []
    for row in (await session.execute(query)).all():
        entry: TranscriptEntry = row[3]
        conversation: Conversation = row[4]
        found.append(
            Summary(
                id=row.id,
                channel=conversation.channel,
                chat_user=entry.chat_user,
                started=aware(row.started),
                last_at=aware(row.last_at),
                last_state=entry.state_after or entry.state_before or conversation.state,
                current_state=conversation.state,
                current_slots=dict(conversation.slots),
                lang=conversation.lang,
            )
        )
    return found


async def summary(session: AsyncSession, conversation_id: int) -> Summary | None:
    listed = await summaries(session, conversation_id=conversation_id)
    return listed[0] if listed else None


async def entries(session: AsyncSession, conversation_id: int) -> list[TranscriptEntry]:
    query = (
        select(TranscriptEntry)
        .where(TranscriptEntry.conversation_id == conversation_id)
        .order_by(TranscriptEntry.id)
    )
    return list((await session.scalars(query)).all())


@dataclass(frozen=True)
class Marked:
    """A row the dashboard counts: a reply of one of the keys asked for, or a turn
    that moved into one of the states asked for."""

    at: datetime
    key: str | None  # the reply's message key; None for a move
    params: dict[str, Any]
    state_before: str | None
    state_after: str | None


async def marked(
    session: AsyncSession, *, since: datetime, keys: Sequence[str], states: Sequence[str]
) -> list[Marked]:
    """Replies with a message key in ``keys`` and member events that moved the
    conversation into one of ``states``, recorded at or after ``since``, oldest first."""
    key = TranscriptEntry.body["key"].as_string()
    query = (
        select(TranscriptEntry)
        .where(TranscriptEntry.at >= since)
        .where(
            or_(
                and_(TranscriptEntry.direction == Direction.OUT, key.in_(keys)),
                and_(
                    TranscriptEntry.direction == Direction.IN,
                    TranscriptEntry.state_after.in_(states),
                    TranscriptEntry.state_before != TranscriptEntry.state_after,
                ),
            )
        )
        .order_by(TranscriptEntry.id)
    )
    return [
        Marked(
            at=aware(row.at),
            key=row.body.get("key") if row.direction == Direction.OUT else None,
            params=dict(row.body.get("params", {})) if row.direction == Direction.OUT else {},
            state_before=row.state_before,
            state_after=row.state_after,
        )
        for row in (await session.scalars(query)).all()
    ]


async def purge(session: AsyncSession, *, before: datetime) -> int:
    """Delete every row recorded before ``before``; returns how many."""
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        delete(TranscriptEntry).where(TranscriptEntry.at < before)
    )
    return result.rowcount or 0
