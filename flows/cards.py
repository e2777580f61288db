"""Card number, expiry and security code as members type them."""

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from flows.problems import Invalid, Problem
from flows.text import fold, strip_separators


class Brand(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    JCB = "jcb"
    AMEX = "amex"
    DINERS = "diners"

    @property
    def length(self) -> int:
        return _LENGTH[self]

    @property
    def code_length(self) -> int:
        """The usual length of the security code, the one the question names first."""
        return self.code_lengths[0]

    @property
    def code_lengths(self) -> tuple[int, ...]:
        """Every length the code may have: AMEX prints 4 digits on the front, but some
        AMEX cards carry 3 on the back instead. The issuer's check decides which is right."""
        return (4, 3) if self is Brand.AMEX else (3,)

    @property
    def code_on_front(self) -> bool:
        return self is Brand.AMEX

    @property
    def label(self) -> str:
        return _LABEL[self]


_LENGTH = {
    Brand.VISA: 16,
    Brand.MASTERCARD: 16,
    Brand.JCB: 16,
    Brand.AMEX: 15,
    Brand.DINERS: 14,
}
_LABEL = {
    Brand.VISA: "VISA",
    Brand.MASTERCARD: "Mastercard",
    Brand.JCB: "JCB",
    Brand.AMEX: "American Express",
    Brand.DINERS: "Diners Club",
}
# Digit groups printed on the card, by number length.
_GROUPS = {16: (4, 4, 4, 4), 15: (4, 6, 5), 14: (4, 6, 4)}
_SHOWN_HEAD = 6
_SHOWN_TAIL = 4
_MIN_LENGTH = 14
_MAX_LENGTH = 16


#: Which brand a number belongs to, by its first digits: (how many, lowest, highest).
_PREFIXES = (
    (1, 4, 4, Brand.VISA),
    (2, 51, 55, Brand.MASTERCARD),
    (4, 2221, 2720, Brand.MASTERCARD),
    (4, 3528, 3589, Brand.JCB),
    (2, 34, 34, Brand.AMEX),
    (2, 37, 37, Brand.AMEX),
    (2, 36, 36, Brand.DINERS),
    (2, 38, 39, Brand.DINERS),
    (3, 300, 305, Brand.DINERS),
)


def brand_of(digits: str) -> Brand | None:
    """The brand a number's prefix belongs to, or None (expects ASCII digits)."""
    if not (digits.isascii() and digits.isdigit()):
        return None
    for size, low, high, brand in _PREFIXES:
        if len(digits) >= size and low <= int(digits[:size]) <= high:
            return brand
    return None


def brand_table() -> list[dict[str, object]]:
    """The same rules as data, for a page that names the brand as a member types."""
    return [
        {
            "size": size,
            "low": low,
            "high": high,
            "brand": brand.label,
            "length": brand.length,
            "codes": list(brand.code_lengths),
        }
        for size, low, high, brand in _PREFIXES
    ]


def looks_like_card(text: str) -> bool:
    """Whether ``text`` is a card number (14-19 digits, separators allowed, Luhn valid),
    wherever it was typed: it is then treated as card data, never kept or shown."""
    digits = strip_separators(text)
    return digits.isascii() and digits.isdigit() and 14 <= len(digits) <= 19 and luhn_ok(digits)


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@dataclass(frozen=True, repr=False)
class CardNumber:
    digits: str
    brand: Brand

    @property
    def last4(self) -> str:
        return self.digits[-_SHOWN_TAIL:]

    @property
    def masked(self) -> str:
        """At most the first six and last four digits, grouped as printed on the card."""
        n = len(self.digits)
        tail = min(_SHOWN_TAIL, n // 2)
        head = min(_SHOWN_HEAD, max(n - tail - 4, 0))
        hidden = self.digits[:head] + "*" * (n - head - tail) + self.digits[n - tail :]
        groups = _GROUPS.get(n) or (4,) * ((n + 3) // 4)
        parts, start = [], 0
        for size in groups:
            parts.append(hidden[start : start + size])
            start += size
        return " ".join(part for part in parts if part)

    # The digits must never reach a log or a traceback through repr() or str().
    def __repr__(self) -> str:
        return f"CardNumber({self.masked!r}, {self.brand.value})"

    def __str__(self) -> str:
        return self.masked


def parse_card_number(text: str) -> CardNumber:
    """The number, or the one problem most worth fixing first: one error per input."""
    digits = strip_separators(text)
    if not digits:
        raise Invalid(Problem("card.empty"))
    if not (digits.isascii() and digits.isdigit()):
        raise Invalid(Problem("card.characters"))
    given = len(digits)
    brand = brand_of(digits)
    if brand is None:
        # Too short or too long says more than a prefix read from a partial number.
        if not _MIN_LENGTH <= given <= _MAX_LENGTH:
            raise Invalid(
                Problem(
                    "card.length.range", {"min": _MIN_LENGTH, "max": _MAX_LENGTH, "given": given}
                )
            )
        raise Invalid(Problem("card.brand"))
    if given != brand.length:
        raise Invalid(Problem("card.length", {"expected": brand.length, "given": given}))
    if not luhn_ok(digits):
        raise Invalid(Problem("card.luhn"))
    return CardNumber(digits, brand)


@dataclass(frozen=True)
class Expiry:
    month: int
    year: int

    @property
    def text(self) -> str:
        return f"{self.month:02d}/{self.year % 100:02d}"

    def is_past(self, today: date) -> bool:
        """A card is valid through the last day of its expiry month."""
        return (today.year, today.month) > (self.year, self.month)


# After NFKC: "01/28", "1/28", "01-28", "01 28", "01.28", "01ー28", "01/2028".
_EXPIRY_SEPARATED = re.compile(r"([0-9]{1,2})\s*[/\-.\sー‐‑‒–—―−ｰ]\s*([0-9]{2}|[0-9]{4})")
# Without a separator: "0128" or "012028".
_EXPIRY_JOINED = re.compile(r"([0-9]{2})([0-9]{2}|[0-9]{4})")


def parse_expiry(text: str, today: date) -> Expiry:
    folded = fold(text)
    match = _EXPIRY_SEPARATED.fullmatch(folded) or _EXPIRY_JOINED.fullmatch(folded)
    if match is None:
        raise Invalid(Problem("expiry.format"))
    month, year_text = int(match[1]), match[2]
    year = int(year_text) if len(year_text) == 4 else 2000 + int(year_text)
    if not 1 <= month <= 12:
        raise Invalid(Problem("expiry.month"))
    expiry = Expiry(month, year)
    if expiry.is_past(today):
        raise Invalid(Problem("expiry.past"))
    return expiry


def parse_security_code(text: str, brand: Brand) -> str:
    """The code, or one problem: characters first, as a length counts digits only."""
    code = fold(text)
    if code and not (code.isascii() and code.isdigit()):
        raise Invalid(Problem("code.characters"))
    if len(code) not in brand.code_lengths:
        raise Invalid(_code_length_problem(brand))
    return code


def _code_length_problem(brand: Brand) -> Problem:
    if brand is Brand.AMEX:
        return Problem("code.length.amex")
    return Problem("code.length", {"expected": brand.code_length})
