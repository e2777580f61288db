"""What the bot needs from the outside world: the card issuer, SMS and mail.

Adapters implement these; the engine only sees the protocols.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from flows.cards import CardNumber, Expiry
from flows.letters import Letter
from flows.personal import Personal


class CardKind(StrEnum):
    PERSONAL = "personal"
    CORPORATE = "corporate"
    CLUB_ON = "club_on"  # Club-On / Millennium cards register on their own site


@dataclass(frozen=True)
class Cardholder:
    kind: CardKind
    registered: bool  # already enrolled in Net Answer with the issuer
    personal: Personal
    mobile: bool  # False when the phone on file is a landline
    #: The address the issuer holds for the cardholder: the only one a passcode is
    #: mailed to (never one typed during enrollment). None when it holds none.
    email: str | None = None


class PaymentKind(StrEnum):
    LUMP = "lump"  # 1回払い
    REVOLVING = "revolving"  # リボ払い
    INSTALLMENTS = "installments"  # 分割払い


@dataclass(frozen=True)
class StatementLine:
    day: date
    merchant: str
    amount: int
    kind: PaymentKind = PaymentKind.LUMP


@dataclass(frozen=True)
class Account:
    credit_limit: int
    available: int
    points: int
    points_yen: int  # what the points are worth, at the issuer's rate
    point_rate: int  # yen one point takes off the bill when applied to it
    bank_account: str  # where the payment is drawn from, masked
    next_payment_date: date
    next_payment_amount: int
    statements: dict[str, list[StatementLine]]  # "YYYY-MM" -> lines

    @property
    def usable_points(self) -> int:
        """The most points the next bill can take: the balance, or what pays it off."""
        return min(self.points, self.next_payment_amount // self.point_rate)


class PointsRefused(Exception):
    """The issuer would not apply the points: more than the balance, or more than the
    next bill is worth."""


class Issuer(Protocol):
    verification_line: str  # toll-free number landline members call to prove who they are

    async def verify_card(self, card: CardNumber, expiry: Expiry, code: str) -> Cardholder | None:
        """The cardholder when number, expiry and code belong together, else None."""

    async def cardholder(self, card: CardNumber) -> Cardholder | None: ...

    async def verify_pin(self, card: CardNumber, pin: str) -> bool: ...

    async def net_answer_id_taken(self, net_answer_id: str) -> bool:
        """Whether a member registered at the issuer (not through this bot) has this ID."""

    async def sign_in(self, net_answer_id: str, password: str) -> CardNumber | None:
        """The card of the Net Answer member registered at the issuer with this ID and
        password, else None (for members who did not register through this bot)."""

    async def account(self, card: CardNumber) -> Account | None: ...

    async def apply_points(self, card: CardNumber, points: int, *, request: str) -> Account:
        """Take ``points`` off the next bill, once per ``request`` (a retry of the same
        request changes nothing more); the account after it. Raises PointsRefused."""

    async def close(self) -> None: ...


class Sms(Protocol):
    #: Sending is a local write that cannot hang (the sandbox): the member's answer
    #: waits for it. Otherwise it is sent in the background after the answer.
    instant: bool

    async def send_sms(self, phone: str, text: str, conversation_id: int | None) -> None: ...


class Mail(Protocol):
    instant: bool  # as Sms.instant

    async def send_mail(
        self, address: str, letter: Letter, conversation_id: int | None
    ) -> None: ...
