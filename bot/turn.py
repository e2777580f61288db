"""One member message being handled: what the handlers read and what they produce."""

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.gateways import Cardholder, Issuer, Mail, Sms
from flows.cards import CardNumber, brand_of
from flows.dialogue import Dialogue
from flows.flow import Flow
from flows.replies import Chart, Param, Reply
from storage.database import Database
from storage.vault import CARD_PURPOSE, Vault

_JAPAN = timezone(timedelta(hours=9), "JST")

T = TypeVar("T")

LinkToken = Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class Services:
    """Everything outside the flow. Clock and randomness are injected so a test or a
    replay sees exactly the same passcodes, IDs and times."""

    database: Database
    vault: Vault
    issuer: Issuer
    sms: Sms
    mail: Mail
    clock: Callable[[], datetime]
    rng: random.Random = field(default_factory=random.SystemRandom)
    check_floor: float = 0.0  # seconds a card check takes at least, whatever its outcome
    rate_limit: int = 20  # messages per chat user per minute, across every worker
    club_on_url: str = ""  # where Club-On / Millennium members register instead
    turn_deadline: float = 9.0  # seconds a turn may take before the event is refused
    order_window: float = 0.1  # seconds events of one chat have to arrive together
    public_url: str | None = None  # where members' browsers reach this server
    #: Per channel that links accounts itself (LINE): a link token for a chat user.
    link_tokens: dict[str, LinkToken] = field(default_factory=dict)
    #: The channels whose chats are offered the secure-entry page (configured for it).
    entry_channels: set[str] = field(default_factory=set)


class NotificationKind(StrEnum):
    SMS = "sms"
    MAIL = "mail"


@dataclass(frozen=True)
class Notification:
    """An SMS or mail as message key and params, rendered when it is sent."""

    kind: NotificationKind
    to: str = field(repr=False)
    key: str
    params: dict[str, Param] = field(repr=False)  # may hold a passcode: never printed
    #: Until when it is worth sending; set for a passcode, whose params are then
    #: kept sealed (encrypted) in the outbox.
    expires: datetime | None = None


class Unprepared(Exception):
    """A step needs slow work (argon2: 0.2 s of CPU) that must not run inside the turn's
    transaction, where it would hold the SQLite write lock or a pooled connection. The
    turn is rolled back, the work done with no transaction open, and the turn run again
    with its result in :attr:`Turn.prepared`."""

    def __init__(self, key: tuple[str, ...], work: Callable[[], Awaitable[Any]]) -> None:
        super().__init__("slow work to be done outside the transaction")  # never the input
        self.key = key
        self.work = work

    async def prepare(self, prepared: dict[tuple[str, ...], Any]) -> None:
        prepared[self.key] = await self.work()


@dataclass
class Turn:
    services: Services
    session: AsyncSession
    flow: Flow  # the flow the conversation is in; a hand-over changes it
    dialogue: Dialogue
    conversation_id: int
    channel: str
    user_id: str
    lang: str
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    redacted: str | None = None  # how a secret input appears in the transcript
    possibly_secret: bool = False  # text where none was expected: delete it like a secret
    answer_not_before: float = 0.0  # time.monotonic() before which the answer must not leave
    asked: bool = False  # the question now due was asked
    #: Results of slow work done before this attempt of the turn (see :class:`Unprepared`).
    prepared: dict[tuple[str, ...], Any] = field(default_factory=dict, repr=False)

    @property
    def slots(self) -> dict[str, Any]:
        return self.dialogue.slots

    def say(
        self, key: str, *, sensitive: bool = False, image: Chart | None = None, **params: Param
    ) -> None:
        self.replies.append(Reply(key, params, sensitive=sensitive, image=image))

    def notify(
        self,
        kind: NotificationKind,
        to: str,
        key: str,
        *,
        expires: datetime | None = None,
        **params: Param,
    ) -> None:
        """Queue an SMS or mail, written to the outbox with the turn and sent only after
        its commit; ``expires``: a passcode, kept sealed and not sent after that."""
        self.notifications.append(Notification(kind, to, key, params, expires))

    def keep_card(self, card: CardNumber) -> None:
        vault = self.services.vault
        self.slots["card_token"] = vault.encrypt(card.digits, CARD_PURPOSE)
        self.slots["card_index"] = vault.index(card.digits, CARD_PURPOSE)
        self.slots["card_masked"] = card.masked
        self.slots["brand"] = card.brand.value

    async def holder(self) -> Cardholder:
        """The issuer's record of the card being enrolled."""
        holder = await self.services.issuer.cardholder(self.card())
        if holder is None:
            raise LookupError("the issuer no longer knows this card")
        return holder

    def outside(self, key: tuple[str, ...], work: Callable[[], Awaitable[T]]) -> T:
        """The result of ``work``, done outside the transaction: if it is not done yet,
        the turn stops here (:class:`Unprepared`) and is run again once it is. ``key``
        names the work and everything it depends on."""
        if key not in self.prepared:
            raise Unprepared(key, work)
        result: T = self.prepared[key]
        return result

    def hashed(self, password: str) -> str:
        """The password's argon2id hash, made outside the transaction."""
        return self.outside(("hash", password), lambda: self.services.vault.hash_password(password))

    def verified(self, password_hash: str, password: str) -> bool:
        """Whether the password matches the hash, checked outside the transaction."""
        vault = self.services.vault
        return self.outside(
            ("verify", password_hash, password),
            lambda: vault.verify_password(password_hash, password),
        )

    def today(self) -> date:
        """The member's date: Japan time."""
        return self.now.astimezone(_JAPAN).date()

    @staticmethod
    def local_time(moment: datetime) -> str:
        """Times are told in Japan time, which has no daylight saving."""
        return moment.astimezone(_JAPAN).strftime("%m/%d %H:%M")

    def card(self) -> CardNumber:
        digits = self.services.vault.decrypt(self.slots["card_token"], CARD_PURPOSE)
        brand = brand_of(digits)
        if brand is None:  # only cards with a brand are ever stored
            raise ValueError("the stored card has no brand")
        return CardNumber(digits, brand)
