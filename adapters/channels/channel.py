"""What every channel is, and what it exchanges with the application.

A channel turns what its platform sends into :class:`Inbound` events and hands them to
the application (:class:`Conversations`), which runs the flow and queues the replies in
the outbox; when the dispatcher finds replies due for one of the channel's chats, it
calls :meth:`Channel.send` with them. A channel never imports the application: it gets
this small interface at construction.
"""

import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import accumulate
from typing import Any, ClassVar, Protocol, Self

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from flows.replies import Chart, Reply
from storage.models import TranscriptEntry
from storage.sandbox import Delivered

#: Where a platform reaches a channel's webhook.
WEBHOOKS = "/webhooks"
#: The secure-entry page, where a member types card data or a password instead of
#: sending it in the chat; its buttons carry this path with a one-time token.
ENTRY_PAGE = "/entry"
#: The data of the button that opens it (first in line at every step it serves).
ENTRY_CHOICE = "entry:open"
#: The longest a channel may link to one of its sent replies by outbox id (LINE's chart
#: addresses, signed to expire this long after the send): the outbox keeps a sent row
#: at least this long (bot/engine.py ``OUTBOX_MEMORY``).
REPLY_LINK_LIFETIME = timedelta(days=7)
#: The longest user id or event id a channel may hand over: the width of those
#: columns in storage/models.py. A longer one is refused before it reaches the database.
ID_LIMIT = 128
#: The deepest nesting of arrays and objects a webhook body may have. No platform sends
#: more than a handful; a parser (json, the SDKs' models) recurses once per level.
JSON_DEPTH_LIMIT = 64
#: A JSON string, skipped whole so brackets in text do not count; an unterminated one
#: runs to the end and still matches, which keeps the scan linear whatever the input.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
#: A UTF-16 surrogate: in a str only when it came alone (JSON's "\ud800", say), since
#: a parser joins a pair into the character it encodes. No encoder, hash or database
#: takes one.
_SURROGATE = re.compile("[\ud800-\udfff]")

_log = logging.getLogger(__name__)


class Kind(StrEnum):
    """What a member did."""

    MESSAGE = "message"  # wrote something or pressed a button
    OPENED = "opened"  # opened the chat (LINE follow, terminal start)
    LEFT = "left"  # blocked or deleted the chat (LINE unfollow)
    UNSENT = "unsent"  # took a message back (LINE unsend)
    LINKED = "linked"  # the platform's account linking ended (LINE accountLink)


@dataclass(frozen=True)
class Entered:
    """An answer typed into the secure-entry page: applied only at the step the page was
    for (``"flow:state"``), never read as a command or a button. ``then``: the page's
    next field, which answers the following question at once, so that question is not
    asked in between."""

    step: str
    then: str | None = None


@dataclass(frozen=True)
class Inbound:
    """A member's action as every channel delivers it."""

    channel: str
    user_id: str
    event_id: str  # the platform's id, so a redelivered event is applied once
    text: str | None = field(default=None, repr=False)  # may be a card number or a password
    choice: str | None = None  # the data of a pressed button
    #: What the platform's event carries for the application to check: the nonce of an
    #: account link that succeeded (None when the platform reports a failure).
    data: str | None = field(default=None, repr=False)
    lang: str | None = None
    kind: Kind = Kind.MESSAGE
    #: The platform's order of the chat's events (Telegram's update_id; LINE's timestamp,
    #: then place in the request): events arriving together are applied in this order.
    position: int | None = None
    #: Typed into the secure-entry page (never in the chat).
    entry: Entered | None = None

    def __post_init__(self) -> None:
        # What the member sent is text the whole application can encode: a lone
        # surrogate becomes U+FFFD, as a UTF-8 decoder makes of a broken byte.
        for name in ("text", "choice", "data"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, well_formed(value))


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    state: str = ""
    flow: str = ""  # the flow ``state`` belongs to
    conversation_id: int = 0
    lang: str = "ja"
    secret_input: bool = False  # the message carried card data or a password: delete it
    asked: bool = False  # the replies end with the question (and buttons) now due
    duplicate: bool = False
    failed: bool = False  # rolled back; the replies are an apology to send directly


@dataclass(frozen=True)
class Outgoing:
    """One queued reply, handed to its channel to render and send."""

    id: int
    user_id: str
    route: Mapping[str, Any]
    reply: Reply
    lang: str
    part: int = 0  # position of the reply among its turn's replies


class SendFailed(Exception):
    """The channel could not send; ``reason`` is a short code, never message content."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent


class Rejected(Exception):
    """A request that is not from the platform, or not readable: answered with
    ``status`` and nothing changes."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def json_depth(body: bytes) -> int:
    """How deep ``body`` nests arrays and objects, counted on the raw bytes without
    parsing (in C-speed passes: strings out, brackets kept, a running sum)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def read_json(body: bytes) -> Any:
    """A webhook body parsed as JSON, or :class:`Rejected` (400) when it is not JSON or
    nests deeper than :data:`JSON_DEPTH_LIMIT` (checked first: parsers recurse)."""
    if json_depth(body) > JSON_DEPTH_LIMIT:
        raise Rejected(400, "nested too deep")
    try:
        return json.loads(body)
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError among them
        raise Rejected(400, type(error).__name__) from None


def well_formed(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def fits(identifier: object) -> bool:
    """Whether a platform's user or event id can be stored: a string of 1 to
    :data:`ID_LIMIT` characters, none a lone surrogate (never replaced: two ids would
    become one)."""
    return (
        isinstance(identifier, str)
        and 0 < len(identifier) <= ID_LIMIT
        and _SURROGATE.search(identifier) is None
    )


@dataclass(frozen=True)
class Capabilities:
    deletes_messages: bool = False  # can remove a member's message from the chat
    keeps_history: bool = False  # the member's messages stay in the chat for good
    buttons: bool = True
    images: bool = False
    #: The platform links accounts itself (LINE): :meth:`Channel.link_token` works.
    links_accounts: bool = False
    #: The platform numbers every event of the bot one after another and that number is
    #: the event id and position (Telegram's update_id), with at most this many events
    #: on their way at once (Telegram's ``max_connections`` is at most 100): an event
    #: whose predecessors within this reach have all arrived need not wait for others
    #: of its chat. 0: positions leave gaps (LINE), so an event waits the order window.
    sequence_reach: int = 0


@dataclass(frozen=True)
class EntrySdk:
    """A platform's own script on the secure-entry page (Telegram's Mini App script,
    LINE's LIFF SDK), the page's only third-party script, and what it needs."""

    script: str  # its https address
    connect: tuple[str, ...] = ()  # origins the script talks to
    frame_ancestors: tuple[str, ...] = ()  # where the platform frames the page (web clients)
    settings: Mapping[str, str] = field(default_factory=dict)  # e.g. the LIFF app's id


@dataclass(frozen=True)
class History:
    """A chat's transcript as stored (already redacted), for a channel that shows the
    conversation again (the web page after a reload)."""

    conversation_id: int | None  # None: the chat has not started
    lang: str | None
    entries: Sequence[TranscriptEntry] = ()  # oldest first
    #: The latest replies still in the outbox: the channel shows them when they are
    #: delivered, so they are not history yet.
    queued: int = 0


class Conversations(Protocol):
    """What the application offers a channel."""

    async def handle(self, inbound: Inbound, *, route: Mapping[str, Any] | None = None) -> Outcome:
        """Apply one event; with ``route`` (how this channel reaches the chat) the
        replies are queued in the outbox for :meth:`deliver`."""

    async def deliver(self, channel: str, user_id: str) -> None:
        """Send the chat's queued replies now, through the channel's :meth:`Channel.send`."""

    async def resume(self, channel: str, user_id: str) -> None:
        """The chat can be reached again: send its queued replies now, those waiting
        for a retry included."""

    async def waiting(self, channel: str, user_ids: Collection[str]) -> list[str]:
        """Which of these chat users have replies still queued (written by any worker,
        due now or waiting for a retry)."""

    async def history(self, channel: str, user_id: str) -> History:
        """The chat's redacted transcript."""

    async def sandbox_messages(self, conversation_id: int, after_id: int) -> list[Delivered]:
        """The SMS and mail the sandbox sent for a conversation after ``after_id``,
        oldest first (what a tester's phone would show)."""

    def now(self) -> datetime: ...

    async def queued(self, channel: str, reply_id: int) -> "Outgoing | None":
        """A reply queued for ``channel`` by its outbox id (sent or not), or None."""

    async def picture(self, chart: Chart, lang: str) -> bytes:
        """The chart as a PNG, labelled in ``lang``."""

    async def sent_picture(self, channel: str, reply_id: int) -> bytes | None:
        """The chart of a reply queued for ``channel`` as a PNG, drawn once; None when
        there is none, or the chat is no longer linked as it was when the reply was
        written (the member unlinked, or linked again since)."""

    def secret(self, purpose: str) -> bytes:
        """A key for one purpose of the channel's (e.g. signing links), derived from
        the server's secrets: the same on every worker, unrelated to any other key."""


class Channel(ABC):
    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    batch_size: ClassVar[int] = 1  # the most replies one send may carry

    def __init__(self, conversations: Conversations) -> None:
        self.conversations = conversations

    @classmethod
    def configured(cls, env: Mapping[str, str], conversations: Conversations) -> Self | None:
        """The channel from its own settings in ``env``; None when it is not configured
        (or, like the terminal, is opened some other way). Half a configuration raises
        ``ValueError`` naming the variable."""
        return None

    @abstractmethod
    async def send(self, batch: Sequence[Outgoing]) -> None:
        """Send consecutive replies of one turn (same route, at most ``batch_size``)
        together, or raise :class:`SendFailed` for them all."""

    async def receive(self, request: Request) -> list[str]:
        """Apply a webhook request; returns the chat users whose replies are queued.
        Raises :class:`Rejected` for a request that is not the platform's."""
        raise Rejected(404, "no webhook")

    def routes(self) -> list[BaseRoute]:
        """The HTTP routes the server mounts for this channel: its webhook, if any."""
        return [Route(f"{WEBHOOKS}/{self.name}", self._webhook, methods=["POST"])]

    async def link_token(self, user_id: str) -> str:
        """A token for the platform's own account linking of this chat user, where
        :attr:`Capabilities.links_accounts` says the platform has it."""
        raise NotImplementedError(f"{self.name} links no accounts")

    def entry_link(self, path: str) -> str | None:
        """The address a secure-entry button opens for the page at ``path`` (under
        :data:`ENTRY_PAGE`, with its token), or None where this channel offers no such
        page (the default: not configured, or nothing to open it in)."""
        return None

    def entry_sdk(self) -> "EntrySdk | None":
        """The platform's script the secure-entry page loads to prove who opened it;
        None where the page needs none (the web chat's own cookie proves it)."""
        return None

    async def entry_user(self, request: Request, proof: str) -> str | None:
        """The chat user who opened the secure-entry page, as the platform proves it
        (``proof`` is what the page's script posted with the form), or None when the
        proof does not hold."""
        return None

    def route_to(self, user_id: str) -> Mapping[str, Any]:
        """How replies reach this chat when no event of the chat's own brought a way
        back (answers typed into the secure-entry page)."""
        raise NotImplementedError(f"{self.name} cannot reach a chat by itself")

    def background(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        """Work the server runs while it serves (e.g. long polling)."""
        return []

    async def start(self) -> None:
        """Open clients; called inside the running event loop."""
        return None

    async def close(self) -> None:
        """Close what :meth:`start` opened."""
        return None

    async def _webhook(self, request: Request) -> Response:
        try:
            users = await self.receive(request)
        except Rejected as rejected:
            return Response(status_code=rejected.status)
        if not users:
            return Response()
        # Answer the platform at once; the replies leave right after, at its pace.
        return Response(background=BackgroundTask(self._deliver_queued, users))

    async def _deliver_queued(self, users: Sequence[str]) -> None:
        for user_id in users:
            try:
                await self.conversations.deliver(self.name, user_id)
            except Exception as error:  # the retry loop sends whatever is still queued
                _log.warning("delivery after the webhook failed: %s", type(error).__name__)
