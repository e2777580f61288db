"""What the bot says: message keys with parameters, rendered per language by the
channel after the turn is committed, plus the buttons offered with them."""

from collections.abc import Mapping
from dataclasses import dataclass, field

#: A message parameter: a value shown as it is (text a member typed included), or a
#: phrase of the catalog (see :func:`phrase`), shown in the member's language.
Param = str | int | dict[str, str]


def phrase(key: str) -> dict[str, str]:
    """A parameter that is a message key, e.g. "yes", to be said in the member's language.
    Only this marks a key: a plain string is never looked up, whatever it looks like."""
    return {"phrase": key}


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

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "params": dict(self.params),
            "choices": [choice.data for choice in self.choices],
        }
