"""The sign-in flow: a card member who already has a Net Answer ID links this chat by
signing in (ID, password, then a one-time passcode to the phone the issuer holds),
instead of registering again.

Where the chat app has its own account linking (LINE), the flow first offers this
server's sign-in page (``signin_page``), which ends in the platform's link event; the
chat sign-in stays one button away. A link unused for 90 days comes back here for a
passcode only (``recheck``).

The handlers live in ``bot/signin.py``. Signing in hands the conversation to the member
flow; "forgot my ID or password" can end in enrollment's re-registration.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypedDict

from flows import membership
from flows.dialogue import Dialogue
from flows.enrollment import IDLE_LIMIT, passcode_options, passcode_params
from flows.flow import Field, Flow, Secret, Step
from flows.replies import Choice

NAME = "signin"


class State(StrEnum):
    PAGE = "signin_page"  # the platform's account linking through the sign-in page
    NETID = "signin_id"
    PASSWORD = "signin_password"  # noqa: S105 (a state name)
    OTP = "signin_otp"
    PIN = "signin_pin"
    CLOSED = "signin_closed"
    LINKED = "linked"  # signed in: the member flow takes over
    ENROLL = "to_enrollment"  # enrollment takes over (re-registration, a new card)


class Event(StrEnum):
    NEXT = "next"
    BACK = "back"  # a failed sign-in: the ID again
    PIN = "pin"
    FAIL = "fail"
    ENROLL = "enroll"
    PAGE = "page"  # the chat app links accounts itself: offer the sign-in page
    CHAT = "chat"  # sign in here in the chat instead
    RECHECK = "recheck"  # a known member proves the link again with a passcode


class Button(StrEnum):
    PAGE = "signin:page"  # opens the sign-in page; never sent back
    CHAT = "signin:chat"
    FORGOT = "signin:forgot"
    ENROLL = "signin:enroll"
    OTP_RESEND = "otp:resend"
    OTP_EMAIL = "otp:email"
    OTP_PIN = "otp:pin"
    PIN_BACK = "pin:back"
    START = "start"


class Slots(TypedDict, total=False):
    """Never the password or a passcode: the typed ID, sealed (it may be the password,
    typed too soon), until the password is checked, then the member's card (encrypted,
    its keyed hash) for the passcode."""

    netid_token: str
    member_id: int
    card_token: str
    card_index: str
    card_masked: str
    otp: dict[str, Any]  # the passcode's keyed hash, expiry, channel, re-issues
    mailable: bool  # the issuer holds an address: a passcode may go by mail
    expired: bool  # wiped by the idle sweep: the member is told on return
    page: str  # the sign-in page's address, carrying the platform's link token


def _page(slots: Mapping[str, Any]) -> Mapping[str, str]:
    return {Button.PAGE: slots["page"]} if "page" in slots else {}


def _no_page(slots: Mapping[str, Any]) -> set[str]:
    return set() if "page" in slots else {Button.PAGE}


_FORGOT = (
    Choice(Button.FORGOT, "choice.signin.forgot"),
    Choice(Button.ENROLL, "choice.signin.enroll"),
)

S = State
SIGNIN = Flow(
    name=NAME,
    title="Netアンサー sign-in (/cancel and /start work in every state)",
    steps={
        S.PAGE: Step(
            "ask.signin_page",
            "help.signin_page",
            choices=(
                Choice(Button.PAGE, "choice.signin.page"),
                Choice(Button.CHAT, "choice.signin.chat"),
                *_FORGOT,
            ),
            free_text=False,
            links=_page,
            hidden=_no_page,
        ),
        S.NETID: Step("ask.signin_id", "help.signin_id", choices=_FORGOT),
        S.PASSWORD: Step(
            "ask.signin_password",
            "help.signin_password",
            choices=_FORGOT,
            secret=Secret.PASSWORD,
            entry=(Field.PASSWORD,),
        ),
        S.OTP: Step(
            "ask.otp",
            "help.otp",
            choices=(
                Choice(Button.OTP_RESEND, "choice.otp.resend"),
                Choice(Button.OTP_EMAIL, "choice.otp.email"),
                Choice(Button.OTP_PIN, "choice.otp.pin"),
            ),
            secret=Secret.PASSCODE,
            params=passcode_params,
            hidden=passcode_options,
        ),
        S.PIN: Step(
            "ask.pin",
            "help.pin",
            choices=(Choice(Button.PIN_BACK, "choice.pin.back"),),
            secret=Secret.PIN,
            entry=(Field.PIN,),
        ),
        S.CLOSED: Step(
            "ask.signin_closed",
            "help.signin_closed",
            choices=(Choice(Button.START, "choice.start"),),
            free_text=False,
            on_enter=("wipe",),
        ),
    },
    transitions=[
        {"trigger": Event.PAGE, "source": S.NETID, "dest": S.PAGE},
        {"trigger": Event.CHAT, "source": S.PAGE, "dest": S.NETID},
        {"trigger": Event.RECHECK, "source": S.NETID, "dest": S.OTP},
        {"trigger": Event.NEXT, "source": S.NETID, "dest": S.PASSWORD},
        {"trigger": Event.NEXT, "source": S.PASSWORD, "dest": S.OTP},
        {"trigger": Event.BACK, "source": S.PASSWORD, "dest": S.NETID},
        {"trigger": Event.FAIL, "source": [S.NETID, S.PASSWORD, S.OTP, S.PIN], "dest": S.CLOSED},
        {"trigger": Event.PIN, "source": S.OTP, "dest": S.PIN},
        {"trigger": Event.BACK, "source": S.PIN, "dest": S.OTP},
        {"trigger": Event.NEXT, "source": [S.OTP, S.PIN], "dest": S.LINKED},
        {"trigger": Event.ENROLL, "source": [S.PAGE, S.NETID, S.PASSWORD], "dest": S.ENROLL},
    ],
    start=S.NETID,
    dialogue=Dialogue,
    slots=Slots,
    unfinished=frozenset({S.PAGE, S.NETID, S.PASSWORD, S.OTP, S.PIN}),
    closed=S.CLOSED,
    idle_limit=IDLE_LIMIT,
    # Not flows.enrollment.NAME: that module names this one. The registry checks it.
    exits={S.LINKED: membership.NAME, S.ENROLL: "enrollment"},
)
