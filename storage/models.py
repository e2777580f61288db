"""Tables. Card numbers are stored only encrypted plus a keyed index; no column
ever holds a security code, PIN, passcode or password in clear."""

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


class Direction(StrEnum):
    IN = "in"  # from the member
    OUT = "out"  # from the bot


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # given up


class Conversation(Base):
    """Which flow one chat user is in, where they stand in it, and what they have
    entered so far."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    flow: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    slots: Mapped[dict[str, Any]]
    lang: Mapped[str] = mapped_column(String(8))
    #: The member chose ``lang`` (/language): the platform's language no longer changes it.
    lang_chosen: Mapped[bool] = mapped_column(default=False, server_default=false())
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: The chat user's messages in the minute that began at ``minute_start``: the rate
    #: limit, kept on the row every turn locks anyway, so every worker counts alike.
    minute_start: Mapped[datetime | None]
    minute_count: Mapped[int] = mapped_column(default=0, server_default="0")


class ProcessedEvent(Base):
    """One row per channel event id: a redelivered event finds its row and is skipped."""

    __tablename__ = "processed_events"
    __table_args__ = (Index("ix_processed_events_position", "channel", "position"),)

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: The platform's order of the event (None where the channel gives none).
    position: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime]


class Arrival(Base):
    """An event of a chat that arrived and is waiting for its turn: events of one chat
    are applied in the platform's order (``position``), whichever worker got them.
    Holds no content: the event itself stays with the worker that received it."""

    __tablename__ = "arrivals"
    __table_args__ = (Index("ix_arrivals_chat", "channel", "user_id", "position"),)

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    net_answer_id: Mapped[str] = mapped_column(String(16), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    card_token: Mapped[str] = mapped_column(Text)
    card_index: Mapped[str] = mapped_column(String(64), unique=True)
    card_masked: Mapped[str] = mapped_column(String(32))
    emails: Mapped[dict[str, Any]]
    newsletter: Mapped[bool]
    terms_version: Mapped[str] = mapped_column(String(16))
    terms_agreed_at: Mapped[datetime]
    created_at: Mapped[datetime]
    lang: Mapped[str | None] = mapped_column(String(8))  # chosen with /language
    #: "Not now" to the wallet at the end of enrollment: the menu keeps offering it.
    wallet_later: Mapped[bool] = mapped_column(default=False, server_default=false())


class ChatIdentity(Base):
    """A chat account linked to a member."""

    __tablename__ = "chat_identities"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    linked_at: Mapped[datetime]
    #: The member flow's last turn on this chat (None: not since linking). A link unused
    #: for 90 days asks for a passcode before it shows a figure again.
    last_used_at: Mapped[datetime | None]


class AccountLink(Base):
    """One run of LINE's account linking: the link token issued for a chat user (kept
    as a keyed hash; the sign-in page receives the token itself), what the page has
    proven so far, and, once ID, password and passcode were right, the nonce (a keyed
    hash) that LINE's ``accountLink`` event must bring back, once, in time."""

    __tablename__ = "account_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    token_index: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime]
    #: The page's progress, like a conversation's slots: never a password or passcode.
    slots: Mapped[dict[str, Any]]
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    nonce_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    nonce_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]  # the nonce came back (or the run was given up)


class EntryToken(Base):
    """A secure-entry page offered to one chat at one step (kept as a keyed hash of its
    random token): usable once, for that conversation at that step, for 10 minutes."""

    __tablename__ = "entry_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_index: Mapped[str] = mapped_column(String(64), unique=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    flow: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class AuditEntry(Base):
    """An operator's action on members' links (``members links``, ``members unlink
    --all``) or a support agent's in the console: appended, never updated or deleted
    by the bot."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(32))
    net_answer_id: Mapped[str] = mapped_column(String(64))  # as the operator typed it
    detail: Mapped[dict[str, Any]]
    agent: Mapped[str | None] = mapped_column(String(64))  # the support agent who acted


class Agent(Base):
    """A support agent's account for the support console (``support add-agent``)."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    #: Set while the agent is disabled (``support disable-agent``): no sign-in, no session.
    disabled_at: Mapped[datetime | None]
    #: Sessions carry the epoch they were signed in; disabling moves it on, so a session
    #: signed before stays void even once the agent is enabled again.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")


class TranscriptEntry(Base):
    """One event a member sent (already redacted) or one reply of the bot (message key
    and placeholder-safe params), with the turn's flow, its version and the states
    before and after the turn. The chat user is a keyed hash, never the platform's id."""

    __tablename__ = "transcript_entries"
    __table_args__ = (
        Index("ix_transcript_conversation", "conversation_id", "id"),
        Index("ix_transcript_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    direction: Mapped[str] = mapped_column(String(3))
    #: Rows written before these columns existed lack what they did not record.
    channel: Mapped[str | None] = mapped_column(String(16))
    chat_user: Mapped[str | None] = mapped_column(String(64))
    flow: Mapped[str | None] = mapped_column(String(32))
    flow_version: Mapped[str | None] = mapped_column(String(16))
    state_before: Mapped[str | None] = mapped_column(String(32))
    state_after: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[dict[str, Any]]


class SandboxMessage(Base):
    """An SMS or mail the sandbox gateways 'sent'; the body is encrypted like any
    secret-bearing field because it may hold a one-time passcode."""

    __tablename__ = "sandbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(320))
    body_token: Mapped[str] = mapped_column(Text)


class OutboxMessage(Base):
    """A reply waiting for its channel, written in the same transaction as the turn.

    Rows of one chat go out strictly in id order: only the oldest pending row may be
    claimed (``leased_until``), and a failed row holds the ones behind it until its
    ``next_attempt_at``. ``route`` is how the channel reaches the chat (a Telegram chat
    id, a LINE reply token); ``payload`` is the reply as message keys, never text.

    Once a row is sent or failed, ``next_attempt_at`` is when that outcome was recorded,
    and the row is deleted a while later (bot/engine.py ``OUTBOX_MEMORY``): the same
    index that finds due rows finds those, and no other has to be kept up on every send.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_chat", "channel", "user_id", "status", "id"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    route: Mapped[dict[str, Any]]
    payload: Mapped[dict[str, Any]]
    lang: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8))  # pending, sent or failed
    attempts: Mapped[int]  # outcomes recorded: sent, failed or given up
    claims: Mapped[int]  # times a worker took it to send; more than attempts + 1: unknown
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]  # pending: when it may go; else: when it was done
    leased_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(64))


class Lockout(Base):
    """Failures counted against one subject (a chat user, a card's keyed index) and,
    after too many, the time until which that subject is refused."""

    __tablename__ = "lockouts"

    subject: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int]
    first_failure_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class CallCheck(Base):
    """A landline member's identity check by calling the toll-free number: pending
    until a call from the registered phone (matched by keyed index) arrives in time."""

    __tablename__ = "call_checks"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    phone_index: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]


def table(model: type[Base]) -> Table:
    """The model's table. Statements run on every message are written against it: an
    ORM-enabled statement costs about twice the CPU of the same one on the table."""
    return cast(Table, model.__table__)
