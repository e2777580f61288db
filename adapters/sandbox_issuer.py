"""The issuer sandbox: demo cards that behave like the real issuer, for the
embedded default and for tests. Refuses to exist in production.

Like a real issuer it keeps its own records apart from the bot's database: the points
members applied to their bills are in its own SQLite file (the ledger), so a change is
seen by every process and by ``netanswer-bot sandbox account``, and never waits on the
bot's own transaction.
"""

import hashlib
import hmac
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Column, Date, Integer, MetaData, String, Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.gateways import (
    Account,
    Cardholder,
    CardKind,
    PaymentKind,
    PointsRefused,
    StatementLine,
)
from flows.cards import CardNumber, Expiry, luhn_ok, parse_card_number
from flows.personal import Personal
from storage.database import Database


@dataclass(frozen=True)
class DemoCard:
    number: str
    expiry: Expiry
    code: str
    pin: str
    phone: str
    birth_date: date
    kind: CardKind = CardKind.PERSONAL
    registered: bool = False
    mobile: bool = True
    email: str | None = None  # the address the issuer holds, for passcodes by mail
    #: A member registered before the bot: the Net Answer ID and password they sign in with.
    net_answer_id: str | None = None
    password: str | None = None


DEMO_CARDS = (
    DemoCard(
        "4980001234567000",
        Expiry(12, 2029),
        "123",
        "1234",
        "090-1234-5678",
        date(1985, 4, 12),
        email="visa.member@example.jp",
    ),
    DemoCard(
        "5425001234567000",
        Expiry(8, 2028),
        "456",
        "2580",
        "080-2345-6789",
        date(1990, 11, 3),
        email="master.member@example.jp",
    ),
    DemoCard(
        "3540001234567005",
        Expiry(3, 2030),
        "789",
        "1357",
        "070-3456-7890",
        date(1978, 2, 28),
        email="jcb.member@example.jp",
    ),
    # The issuer holds no address for this member: no passcode by mail.
    DemoCard("371234567890104", Expiry(5, 2029), "4321", "9876", "090-9876-5432", date(1982, 7, 7)),
    # An AMEX whose security code is 3 digits on the back, as some AMEX cards have.
    DemoCard(
        "341234567890127",
        Expiry(7, 2030),
        "743",
        "4343",
        "090-4343-4343",
        date(1986, 6, 6),
        email="amex.member@example.jp",
    ),
    DemoCard(
        "36123456789013",
        Expiry(10, 2028),
        "246",
        "8642",
        "03-1234-5678",
        date(1970, 1, 15),
        mobile=False,
        email="diners.member@example.jp",
    ),
    DemoCard(
        "2221001234567003",
        Expiry(11, 2031),
        "135",
        "1122",
        "080-1111-2222",
        date(1999, 12, 31),
        email="mc.member@example.jp",
    ),
    DemoCard(
        "4980005555555007",
        Expiry(6, 2029),
        "555",
        "5555",
        "090-5555-5555",
        date(1975, 5, 5),
        kind=CardKind.CORPORATE,
    ),
    DemoCard(
        "4980002222222004",
        Expiry(9, 2029),
        "222",
        "2222",
        "090-2222-2222",
        date(1988, 8, 8),
        kind=CardKind.CLUB_ON,
    ),
    DemoCard(
        "4980003333333003",
        Expiry(4, 2030),
        "333",
        "3333",
        "090-3333-3333",
        date(1992, 3, 3),
        registered=True,
        email="kumo.sora@example.jp",
        net_answer_id="saisonvisa33",
        password="Kumo-Sora2030",  # noqa: S106 (a demo member's, in the README)
    ),
)

#: Load-test cards, one per simulated member, made from the member's number n
#: (0-99999): VISA ``4980 01nn nnnc 0000`` (c makes the Luhn check hold), expiry 12/29,
#: code 321, PIN 4321, mobile 090-0000-4321, born 1979-11-23, the issuer's address
#: load.member@example.jp. They differ only in the middle digits a masked card hides,
#: so every member's chat reads the same. See :func:`load_card`.
LOAD_CARD_PREFIX = "498001"
LOAD_CARD_SUFFIX = "0000"
LOAD_CARDS = 100_000


def load_card(n: int) -> DemoCard:
    """The load-test card of member ``n``."""
    if not 0 <= n < LOAD_CARDS:
        raise ValueError(f"a load card's number is 0 to {LOAD_CARDS - 1}")
    digits = next(
        number
        for check in "0123456789"
        if luhn_ok(number := f"{LOAD_CARD_PREFIX}{n:05d}{check}{LOAD_CARD_SUFFIX}")
    )
    return DemoCard(
        digits,
        Expiry(12, 2029),
        "321",
        "4321",
        "090-0000-4321",
        date(1979, 11, 23),
        email="load.member@example.jp",
    )


def _load_card(digits: str) -> DemoCard | None:
    """The load-test card with these digits, if they are one."""
    middle = digits[len(LOAD_CARD_PREFIX) : len(LOAD_CARD_PREFIX) + 5]
    if len(digits) != 16 or not digits.startswith(LOAD_CARD_PREFIX) or not middle.isdigit():
        return None
    card = load_card(int(middle))
    return card if card.number == digits else None


#: Most lines are paid at once; a few by revolving credit or in installments.
_KINDS = (PaymentKind.LUMP,) * 4 + (PaymentKind.REVOLVING, PaymentKind.INSTALLMENTS)
POINT_YEN = 5  # yen a 永久不滅ポイント is worth in the sandbox

_MERCHANTS = (
    "セブン-イレブン",
    "ローソン",
    "西友",
    "パルコ",
    "無印良品",
    "Amazon.co.jp",
    "JR東日本 モバイルSuica",
    "スターバックス",
    "ユニクロ",
    "東京電力エナジーパートナー",
    "NTTドコモ",
    "ENEOS",
    "楽天市場",
)


_LEDGER = MetaData()
#: Points applied to a bill: one row per request, so a retried request counts once.
#: Cards are known by a hash: the ledger holds no card number.
_APPLIED = Table(
    "applied_points",
    _LEDGER,
    Column("request", String(64), primary_key=True),
    Column("card", String(64), nullable=False, index=True),
    Column("payment_date", Date, nullable=False),
    Column("points", Integer, nullable=False),
)


class SandboxIssuer:
    verification_line = "0120-000-555"

    def __init__(self, today: date, ledger: Path, cards: tuple[DemoCard, ...] = DEMO_CARDS) -> None:
        self._cards = {card.number: card for card in cards}
        self._today = today
        self._ledger = Database(f"sqlite:///{ledger}")
        self._ready = False

    def _find(self, card: CardNumber) -> DemoCard | None:
        return self._cards.get(card.digits) or _load_card(card.digits)

    async def verify_card(self, card: CardNumber, expiry: Expiry, code: str) -> Cardholder | None:
        demo = self._find(card)
        if demo is None or demo.expiry != expiry or not hmac.compare_digest(demo.code, code):
            return None
        return _cardholder(demo)

    async def cardholder(self, card: CardNumber) -> Cardholder | None:
        demo = self._find(card)
        return None if demo is None else _cardholder(demo)

    async def net_answer_id_taken(self, net_answer_id: str) -> bool:
        return any(demo.net_answer_id == net_answer_id for demo in self._cards.values())

    async def sign_in(self, net_answer_id: str, password: str) -> CardNumber | None:
        for demo in self._cards.values():
            if demo.net_answer_id is None or demo.password is None:
                continue
            same_id = hmac.compare_digest(demo.net_answer_id.encode(), net_answer_id.encode())
            if same_id and hmac.compare_digest(demo.password.encode(), password.encode()):
                return parse_card_number(demo.number)
        return None

    async def verify_pin(self, card: CardNumber, pin: str) -> bool:
        demo = self._find(card)
        return demo is not None and hmac.compare_digest(demo.pin, pin)

    async def account(self, card: CardNumber) -> Account | None:
        demo = self._find(card)
        if demo is None:
            return None
        base = _account(demo, self._today)
        async with self._transaction() as session:
            used = await _used(session, demo, base.next_payment_date)
        return _after(base, *used)

    async def apply_points(self, card: CardNumber, points: int, *, request: str) -> Account:
        demo = self._find(card)
        if demo is None:
            raise PointsRefused("unknown card")
        base = _account(demo, self._today)
        try:
            async with self._transaction() as session:
                done = await session.scalar(
                    select(_APPLIED.c.points).where(_APPLIED.c.request == request)
                )
                if done is None:
                    account = _after(base, *await _used(session, demo, base.next_payment_date))
                    if not 0 < points <= account.usable_points:
                        raise PointsRefused("more than the balance or the bill")
                    await session.execute(
                        _APPLIED.insert().values(
                            request=request,
                            card=_card_key(demo),
                            payment_date=base.next_payment_date,
                            points=points,
                        )
                    )
        except IntegrityError:  # the same request, applied at the same moment elsewhere
            pass
        async with self._transaction() as session:
            return _after(base, *await _used(session, demo, base.next_payment_date))

    async def close(self) -> None:
        await self._ledger.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        if not self._ready:
            async with self._ledger.engine.begin() as connection:
                await connection.run_sync(_LEDGER.create_all)
            self._ready = True
        async with self._ledger.transaction() as session:
            yield session


def _card_key(demo: DemoCard) -> str:
    return hashlib.sha256(f"sandbox-ledger:{demo.number}".encode()).hexdigest()


async def _used(session: AsyncSession, demo: DemoCard, payment_date: date) -> tuple[int, int]:
    """Points applied in all, and those applied to the bill due on ``payment_date``."""
    card = _APPLIED.c.card == _card_key(demo)
    total = await session.scalar(select(func.coalesce(func.sum(_APPLIED.c.points), 0)).where(card))
    this_bill = await session.scalar(
        select(func.coalesce(func.sum(_APPLIED.c.points), 0)).where(
            card, _APPLIED.c.payment_date == payment_date
        )
    )
    return int(total or 0), int(this_bill or 0)


def _after(account: Account, used: int, this_bill: int) -> Account:
    points = account.points - used
    return replace(
        account,
        points=points,
        points_yen=points * account.point_rate,
        next_payment_amount=account.next_payment_amount - this_bill * account.point_rate,
    )


def _cardholder(demo: DemoCard) -> Cardholder:
    return Cardholder(
        kind=demo.kind,
        registered=demo.registered,
        personal=Personal.of(demo.birth_date, demo.phone),
        mobile=demo.mobile,
        email=demo.email,
    )


def _account(demo: DemoCard, today: date) -> Account:
    """Numbers generated from the card number alone, so every run shows the same account."""
    rng = random.Random(demo.number)  # noqa: S311 (demo figures, the same every run)
    statements: dict[str, list[StatementLine]] = {}
    month_start = today.replace(day=1)
    for _ in range(4):
        month_start = (month_start - timedelta(days=1)).replace(day=1)
        lines = [
            StatementLine(
                day=month_start.replace(day=rng.randint(1, 28)),
                merchant=rng.choice(_MERCHANTS),
                amount=rng.randrange(300, 30000, 10),
                kind=rng.choice(_KINDS),
            )
            for _ in range(rng.randint(3, 8))
        ]
        statements[month_start.strftime("%Y-%m")] = sorted(lines, key=lambda line: line.day)
    credit_limit = rng.choice((300_000, 500_000, 800_000, 1_000_000))
    last_month = statements[max(statements)]
    amount = sum(line.amount for line in last_month)
    payment_month = today.replace(day=4) + timedelta(days=31) if today.day > 4 else today
    points = rng.randint(100, 5000)
    return Account(
        credit_limit=credit_limit,
        available=credit_limit - amount,
        points=points,
        points_yen=points * POINT_YEN,
        point_rate=POINT_YEN,
        bank_account=f"セゾン銀行 普通 ****{demo.number[-3:]}",
        next_payment_date=payment_month.replace(day=4),
        next_payment_amount=amount,
        statements=statements,
    )
