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
    bank_account: str  # where the payment is drawn from, masked
    next_payment_date: date
    next_payment_amount: int
    statements: dict[str, list[StatementLine]]  # "YYYY-MM" -> lines


class Issuer(Protocol):
    verification_line: str  # toll-free number landline members call to prove who they are

    async def verify_card(self, card: CardNumber, expiry: Expiry, code: str) -> Cardholder | None:
        """The cardholder when number, expiry and code belong together, else None."""

    async def cardholder(self, card: CardNumber) -> Cardholder | None: ...

    async def verify_pin(self, card: CardNumber, pin: str) -> bool: ...

    async def account(self, card: CardNumber) -> Account | None: ...


class Sms(Protocol):
    async def send_sms(self, phone: str, text: str, conversation_id: int | None) -> None: ...


class Mail(Protocol):
    async def send_mail(
        self, address: str, letter: Letter, conversation_id: int | None
    ) -> None: ...
