"""The issuer sandbox: demo cards that behave like the real issuer, for the
embedded default and for tests. Refuses to exist in production."""

import hmac
import random
from dataclasses import dataclass
from datetime import date, timedelta

from adapters.gateways import Account, Cardholder, CardKind, PaymentKind, StatementLine
from flows.cards import CardNumber, Expiry
from flows.personal import Personal


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


DEMO_CARDS = (
    DemoCard(
        "4980001234567000", Expiry(12, 2029), "123", "1234", "090-1234-5678", date(1985, 4, 12)
    ),
    DemoCard(
        "5425001234567000", Expiry(8, 2028), "456", "2580", "080-2345-6789", date(1990, 11, 3)
    ),
    DemoCard(
        "3540001234567005", Expiry(3, 2030), "789", "1357", "070-3456-7890", date(1978, 2, 28)
    ),
    DemoCard("371234567890104", Expiry(5, 2029), "4321", "9876", "090-9876-5432", date(1982, 7, 7)),
    # An AMEX whose security code is 3 digits on the back, as some AMEX cards have.
    DemoCard("341234567890127", Expiry(7, 2030), "743", "4343", "090-4343-4343", date(1986, 6, 6)),
    DemoCard(
        "36123456789013",
        Expiry(10, 2028),
        "246",
        "8642",
        "03-1234-5678",
        date(1970, 1, 15),
        mobile=False,
    ),
    DemoCard(
        "2221001234567003", Expiry(11, 2031), "135", "1122", "080-1111-2222", date(1999, 12, 31)
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
    ),
)

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


class SandboxIssuer:
    verification_line = "0120-000-555"

    def __init__(self, today: date, cards: tuple[DemoCard, ...] = DEMO_CARDS) -> None:
        self._cards = {card.number: card for card in cards}
        self._today = today

    def _find(self, card: CardNumber) -> DemoCard | None:
        return self._cards.get(card.digits)

    async def verify_card(self, card: CardNumber, expiry: Expiry, code: str) -> Cardholder | None:
        demo = self._find(card)
        if demo is None or demo.expiry != expiry or not hmac.compare_digest(demo.code, code):
            return None
        return _cardholder(demo)

    async def cardholder(self, card: CardNumber) -> Cardholder | None:
        demo = self._find(card)
        return None if demo is None else _cardholder(demo)

    async def verify_pin(self, card: CardNumber, pin: str) -> bool:
        demo = self._find(card)
        return demo is not None and hmac.compare_digest(demo.pin, pin)

    async def account(self, card: CardNumber) -> Account | None:
        demo = self._find(card)
        return None if demo is None else _account(demo, self._today)


def _cardholder(demo: DemoCard) -> Cardholder:
    return Cardholder(
        kind=demo.kind,
        registered=demo.registered,
        personal=Personal.of(demo.birth_date, demo.phone),
        mobile=demo.mobile,
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
        bank_account=f"セゾン銀行 普通 ****{demo.number[-3:]}",
        next_payment_date=payment_month.replace(day=4),
        next_payment_amount=amount,
        statements=statements,
    )
