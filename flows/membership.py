"""The member flow: a linked member asks for the home summary, a statement, points,
the next payment or the credit left, by command, keyword, short question or button;
applies points to the next bill, chooses a language, or unlinks this chat.

The answers come from the issuer at the time of the question (``bot/membership.py``);
this module declares the questions, their buttons and what the flow keeps.
"""

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypedDict

from flows.dialogue import Dialogue
from flows.flow import Flow, Params, Step
from flows.problems import Invalid, Problem
from flows.replies import Choice, points, yen
from flows.text import fold

NAME = "member"
STATEMENT_PAGE = 5  # lines of a statement per message
GRAPH_MONTHS = 6  # bars of the usage graph: the months before this one


class State(StrEnum):
    HOME = "member"
    POINTS = "points"  # how many points to take off the next bill
    POINTS_CONFIRM = "points_confirm"
    LANGUAGE = "language"
    UNLINK = "unlink"  # unlinking this chat, to be confirmed
    UNLINKED = "unlinked"  # the chat is no longer linked: enrollment takes over
    RECHECK = "recheck"  # unused for 90 days: sign-in takes a passcode first


class Event(StrEnum):
    APPLY = "apply"
    NEXT = "next"
    HOME = "home"
    LANGUAGE = "language"
    UNLINK = "unlink"
    UNLINKED = "unlinked"
    RECHECK = "recheck"


class Button(StrEnum):
    MORE = "statement:more"
    HOME = "menu:home"
    STATEMENT = "menu:statement"
    POINTS = "menu:points"
    PAYMENT = "menu:payment"
    LIMIT = "menu:limit"
    APPLY = "points:apply"
    WALLET = "menu:wallet"
    LANGUAGE = "menu:language"
    UNLINK = "menu:unlink"
    POINTS_ALL = "points:all"
    POINTS_CONFIRM = "points:confirm"
    POINTS_CANCEL = "points:cancel"
    JAPANESE = "language:ja"
    ENGLISH = "language:en"
    UNLINK_CONFIRM = "unlink:confirm"
    UNLINK_CANCEL = "unlink:cancel"
    GRAPH = "menu:graph"
    MENU = "menu:menu"


class Slots(TypedDict, total=False):
    netid: str
    card_masked: str
    wallet_later: bool  # the wallet offer was put off: the menu keeps it
    statement: dict[str, Any]  # the month, page and pages last shown
    #: Points to take off the bill being asked about: the issuer request, what may be
    #: applied, the bill's date and amount, the rate, and the points chosen.
    apply: dict[str, Any]


class MemberDialogue(Dialogue):
    def settle(self) -> None:
        """Back home, nothing of an unfinished request is kept."""
        self.slots.pop("apply", None)


def parse_points(text: str, usable: int) -> int:
    """Points a member typed ("1000", "１，０００", "1000ポイント", "1000 pt")."""
    folded = re.sub(r"[,\s]", "", fold(text)).casefold()
    found = re.fullmatch(r"(\d{1,9})(?:ポイント|points?|pts?|p)?", folded)
    if found is None:
        raise Invalid(Problem("points.unreadable", {"usable": points(usable)}))
    count = int(found[1])
    if not 0 < count <= usable:
        raise Invalid(Problem("points.out_of_range", {"usable": points(usable)}))
    return count


def _linked(slots: Mapping[str, Any]) -> Params:
    return {"netid": slots.get("netid", ""), "card": slots.get("card_masked", "")}


def _home_hidden(slots: Mapping[str, Any]) -> set[str]:
    hidden: set[str] = set() if slots.get("wallet_later") else {Button.WALLET}
    shown = slots.get("statement")
    if not shown or shown["page"] >= shown["pages"]:
        hidden.add(Button.MORE)
    return hidden


def _points_asked(slots: Mapping[str, Any]) -> Params:
    apply = slots.get("apply", {})
    usable = apply.get("usable", 0)
    return {
        "usable": points(usable),
        "worth": yen(usable * apply.get("rate", 0)),
        "amount": yen(apply.get("bill", 0)),
    }


def _points_confirm(slots: Mapping[str, Any]) -> Params:
    apply = slots.get("apply", {})
    chosen = apply.get("points", 0)
    return {
        "points": points(chosen),
        "worth": yen(chosen * apply.get("rate", 0)),
        "date": {"day": apply.get("date", "")},
        "amount": yen(apply.get("bill", 0)),
    }


_TO_HOME = [State.POINTS, State.POINTS_CONFIRM, State.LANGUAGE, State.UNLINK]

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
                Choice(Button.MENU, "choice.menu.menu"),
                Choice(Button.APPLY, "choice.points.apply"),
                Choice(Button.WALLET, "choice.menu.wallet"),
                Choice(Button.LANGUAGE, "choice.menu.language"),
                Choice(Button.UNLINK, "choice.menu.unlink"),
            ),
            params=_linked,
            hidden=_home_hidden,
            on_enter=("settle",),  # also after /cancel
        ),
        State.POINTS: Step(
            "ask.points",
            "help.points",
            choices=(
                Choice(Button.POINTS_ALL, "choice.points.all"),
                Choice(Button.POINTS_CANCEL, "choice.points.cancel"),
            ),
            params=_points_asked,
        ),
        State.POINTS_CONFIRM: Step(
            "ask.points.confirm",
            "help.points.confirm",
            choices=(
                Choice(Button.POINTS_CONFIRM, "choice.points.confirm"),
                Choice(Button.POINTS_CANCEL, "choice.points.cancel"),
            ),
            free_text=False,
            params=_points_confirm,
        ),
        State.LANGUAGE: Step(
            "ask.language",
            "help.language",
            choices=(
                Choice(Button.JAPANESE, "choice.language.ja"),
                Choice(Button.ENGLISH, "choice.language.en"),
            ),
            free_text=False,
        ),
        State.UNLINK: Step(
            "ask.unlink",
            "help.unlink",
            choices=(
                Choice(Button.UNLINK_CONFIRM, "choice.unlink.confirm"),
                Choice(Button.UNLINK_CANCEL, "choice.unlink.cancel"),
            ),
            free_text=False,
            params=_linked,
        ),
    },
    transitions=[
        {"trigger": Event.APPLY, "source": State.HOME, "dest": State.POINTS},
        {"trigger": Event.NEXT, "source": State.POINTS, "dest": State.POINTS_CONFIRM},
        {"trigger": Event.LANGUAGE, "source": State.HOME, "dest": State.LANGUAGE},
        {"trigger": Event.UNLINK, "source": State.HOME, "dest": State.UNLINK},
        {"trigger": Event.HOME, "source": _TO_HOME, "dest": State.HOME},
        {"trigger": Event.UNLINKED, "source": [State.HOME, *_TO_HOME], "dest": State.UNLINKED},
        {"trigger": Event.RECHECK, "source": [State.HOME, *_TO_HOME], "dest": State.RECHECK},
    ],
    start=State.HOME,
    dialogue=MemberDialogue,
    slots=Slots,
    # /cancel in the middle of a request goes back home.
    unfinished=frozenset(_TO_HOME),
    closed=State.HOME,
    # Not flows.enrollment.NAME nor flows.signin.NAME: those modules name this one. The
    # registry checks them.
    exits={State.UNLINKED: "enrollment", State.RECHECK: "signin"},
)
