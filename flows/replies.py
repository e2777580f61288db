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


def statement_lines(lines: Sequence[tuple[date, str, int, str]]) -> dict[str, list[Any]]:
    """Lines of a statement: day, merchant, amount and the key of the payment kind."""
    return {
        "lines": [[d.isoformat(), merchant, amount, kind] for d, merchant, amount, kind in lines]
    }


@dataclass(frozen=True)
class Choice:
    data: str  # stable value a button sends, e.g. "terms:agree"
    label: str  # message key of the button label


@dataclass(frozen=True)
class Reply:
    key: str
    params: Mapping[str, Param] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    sensitive: bool = False  # about card data: channels may protect it from forwarding
    #: The kind of secret the member types in answer to this question (a value of
    #: ``flows.flow.Secret``), so a channel can hide or protect the typing; None otherwise.
    secret: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "params": dict(self.params),
            "choices": [choice.data for choice in self.choices],
        }
