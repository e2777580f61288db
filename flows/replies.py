"""What the bot says: message keys with parameters, rendered per language by the
channel after the turn is committed, plus the buttons offered with them."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

#: A message parameter: a value shown as it is (text a member typed included), or a
#: typed value written in the member's language when the reply is rendered: a phrase
#: of the catalog (:func:`phrase`), an amount, points, a day, a month, statement lines.
Param = str | int | dict[str, Any]


def phrase(key: str) -> dict[str, str]:
    """A parameter that is a message key, e.g. "yes", to be said in the member's language.
    Only this marks a key: a plain string is never looked up, whatever it looks like."""
    return {"phrase": key}


def yen(amount: int) -> dict[str, int]:
    return {"yen": amount}


def points(count: int) -> dict[str, int]:
    return {"points": count}


def day(moment: date) -> dict[str, str]:
    return {"day": moment.isoformat()}


def month(year_month: str) -> dict[str, str]:
    return {"month": year_month}


def month_totals(bars: Sequence[tuple[str, int]]) -> dict[str, list[Any]]:
    """Yen per month ("YYYY-MM", amount), oldest first, e.g. what a chart shows."""
    return {"totals": [[year_month, amount] for year_month, amount in bars]}


def statement_lines(lines: Sequence[tuple[date, str, int, str]]) -> dict[str, list[Any]]:
    """Lines of a statement: day, merchant, amount and the key of the payment kind."""
    return {
        "lines": [[d.isoformat(), merchant, amount, kind] for d, merchant, amount, kind in lines]
    }


@dataclass(frozen=True)
class Choice:
    data: str  # stable value a button sends, e.g. "terms:agree"
    label: str  # message key of the button label
    #: A page the button opens instead of sending ``data`` (LINE's sign-in page).
    url: str | None = None


@dataclass(frozen=True)
class Chart:
    """A bar chart drawn from these figures when the reply is sent (the outbox keeps
    the figures, never the picture): yen per month, oldest first, and the message key
    describing it in words (its alt text), said with the reply's parameters."""

    bars: tuple[tuple[str, int], ...]  # ("YYYY-MM", yen)
    alt: str

    def as_json(self) -> dict[str, Any]:
        return {"bars": [list(bar) for bar in self.bars], "alt": self.alt}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Chart":
        return cls(tuple((str(ym), int(amount)) for ym, amount in data["bars"]), data["alt"])


@dataclass(frozen=True)
class Reply:
    key: str
    params: Mapping[str, Param] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    sensitive: bool = False  # about card data: channels may protect it from forwarding
    image: Chart | None = None  # shown as a picture where the channel can
    #: The kind of secret the member types in answer to this question (a value of
    #: ``flows.flow.Secret``), so a channel can hide or protect the typing; None otherwise.
    secret: str | None = None

    def as_json(self) -> dict[str, object]:
        shown: dict[str, object] = {
            "key": self.key,
            "params": dict(self.params),
            "choices": [choice.data for choice in self.choices],
        }
        if self.image is not None:
            shown["image"] = self.image.as_json()
        return shown
