"""The member flow: where a linked member's conversation lives after enrollment.

For now it names the linked card and ID; the member services (statement, points,
payment) become its steps.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypedDict

from flows.dialogue import Dialogue
from flows.flow import Flow, Params, Step

NAME = "member"


class State(StrEnum):
    HOME = "member"


class Slots(TypedDict, total=False):
    netid: str
    card_masked: str


def _linked(slots: Mapping[str, Any]) -> Params:
    return {"netid": slots.get("netid", ""), "card": slots.get("card_masked", "")}


MEMBERSHIP = Flow(
    name=NAME,
    title="Netアンサー member (/start registers another card)",
    steps={State.HOME: Step("ask.member", "help.member", params=_linked)},
    transitions=[],
    start=State.HOME,
    dialogue=Dialogue,
    slots=Slots,
)
