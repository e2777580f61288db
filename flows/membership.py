"""The member flow: a linked member asks for the home summary, a statement, points,
the next payment or the credit left, by command, keyword, short question or button.

The answers come from the issuer at the time of the question (``bot/membership.py``);
this module declares the question, its buttons and what it keeps: the statement page
last shown.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypedDict

from flows.dialogue import Dialogue
from flows.flow import Flow, Params, Step
from flows.replies import Choice

NAME = "member"
STATEMENT_PAGE = 5  # lines of a statement per message
GRAPH_MONTHS = 6  # bars of the usage graph: the months before this one


class State(StrEnum):
    HOME = "member"
    UNLINKED = "unlinked"  # the chat is no longer linked: enrollment takes over


class Event(StrEnum):
    UNLINKED = "unlinked"


class Button(StrEnum):
    MORE = "statement:more"
    HOME = "menu:home"
    STATEMENT = "menu:statement"
    POINTS = "menu:points"
    PAYMENT = "menu:payment"
    LIMIT = "menu:limit"
    GRAPH = "menu:graph"


class Slots(TypedDict, total=False):
    netid: str
    card_masked: str
    statement: dict[str, Any]  # the month, page and pages last shown


def _linked(slots: Mapping[str, Any]) -> Params:
    return {"netid": slots.get("netid", ""), "card": slots.get("card_masked", "")}


def _no_next_page(slots: Mapping[str, Any]) -> set[str]:
    shown = slots.get("statement")
    return set() if shown and shown["page"] < shown["pages"] else {Button.MORE}


MEMBERSHIP = Flow(
    name=NAME,
    title="Netアンサー member (/start registers another card)",
    steps={
        State.HOME: Step(
            "ask.member",
            "help.member",
            choices=(
                Choice(Button.MORE, "choice.statement.more"),
                Choice(Button.HOME, "choice.menu.home"),
                Choice(Button.STATEMENT, "choice.menu.statement"),
                Choice(Button.POINTS, "choice.menu.points"),
                Choice(Button.PAYMENT, "choice.menu.payment"),
                Choice(Button.LIMIT, "choice.menu.limit"),
                Choice(Button.GRAPH, "choice.menu.graph"),
            ),
            params=_linked,
            hidden=_no_next_page,
        ),
    },
    transitions=[{"trigger": Event.UNLINKED, "source": State.HOME, "dest": State.UNLINKED}],
    start=State.HOME,
    dialogue=Dialogue,
    slots=Slots,
    # Not flows.enrollment.NAME: that module names this one. The registry checks it.
    exits={State.UNLINKED: "enrollment"},
)
