"""The enrollment flow: a card member without a Net Answer ID registers one.

Each state is declared once below: its question, help, buttons, the secret typed there
and the values the question shows. The handlers that act on each answer live in
``bot/enrollment.py``; completing the enrollment hands the conversation to the member
flow (``flows/membership.py``).
"""

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypedDict

from flows import membership, terms
from flows.cards import Brand
from flows.dialogue import Dialogue
from flows.flow import Field, Flow, Params, Secret, Step
from flows.replies import Choice, phrase

NAME = "enrollment"
TERMS_VERSION = terms.VERSION
RESEND_LIMIT = 3  # new passcodes after the first, switching to mail included
IDLE_LIMIT = timedelta(minutes=30)
HISTORY_NOTICE = "card.kept_in_history"


class State(StrEnum):
    CARD = "card"
    EXPIRY = "expiry"
    CODE = "code"
    REREGISTER = "reregister"
    PASSWORD = "password"  # noqa: S105 (a state name)
    NETID = "netid"
    REPEAT = "repeat"
    EMAIL = "email"
    NEWSLETTER = "newsletter"
    TERMS = "terms"
    CONFIRM = "confirm"
    FIX = "fix"
    OTP = "otp"
    PIN = "pin"
    CALL = "call"  # landline members call the toll-free number
    WALLET = "wallet"
    MEMBER = "member"  # enrolled: the member flow takes over
    SIGNIN = "to_signin"  # the member has an ID: the sign-in flow takes over
    CLOSED = "closed"


class Event(StrEnum):
    NEXT = "next"
    VERIFIED = "verified"
    REGISTERED = "registered"
    WEAK = "weak"  # the password went missing on the way: ask it again
    MISMATCH = "mismatch"
    REFUSED = "refused"
    STOP = "stop"
    OWNID = "ownid"
    AGREE = "agree"
    DECLINE = "decline"
    EDIT = "edit"
    BACK = "back"
    CALL = "call"
    FAIL = "fail"
    PIN = "pin"
    EMAIL = "email"
    CARD = "card"
    NETID = "netid"
    PASSWORD = "password"  # noqa: S105 (an event name)
    SIGNIN = "signin"


class Button(StrEnum):
    """The stable data of every button (the README lists them for testers)."""

    SIGNIN = "welcome:signin"
    ENROLL = "welcome:enroll"
    REREGISTER_SIGNIN = "reregister:signin"
    REREGISTER_CONTINUE = "reregister:continue"
    REREGISTER_STOP = "reregister:stop"
    NETID_OWN = "netid:own"
    NETID_ISSUE = "netid:issue"
    NEWSLETTER_YES = "newsletter:yes"
    NEWSLETTER_NO = "newsletter:no"
    TERMS_AGREE = "terms:agree"
    TERMS_FULL = "terms:full"
    TERMS_MORE = "terms:more"
    TERMS_DECLINE = "terms:decline"
    CONFIRM_OK = "confirm:ok"
    CONFIRM_EDIT = "confirm:edit"
    FIX_CARD = "fix:card"
    FIX_NETID = "fix:netid"
    FIX_PASSWORD = "fix:password"  # noqa: S105 (button data)
    FIX_EMAIL = "fix:email"
    FIX_BACK = "fix:back"
    OTP_RESEND = "otp:resend"
    OTP_EMAIL = "otp:email"
    OTP_PIN = "otp:pin"
    PIN_BACK = "pin:back"
    CALL_DONE = "otp:called"
    CALL_AGAIN = "call:again"
    WALLET_ADD = "wallet:add"
    WALLET_LATER = "wallet:later"
    START = "start"


class Slots(TypedDict, total=False):
    """Everything an enrollment keeps between messages. Never a security code, PIN,
    passcode or password: only the card encrypted, keyed hashes and display values."""

    card_token: str  # the card number, encrypted
    card_index: str  # its keyed hash, for lookups
    card_masked: str
    brand: str
    expiry: str
    registered: bool  # the card already has a Net Answer ID
    password_hash: str  # argon2id, the only trace of the password
    netid: str
    emails: list[dict[str, Any]]
    newsletter: bool
    terms: dict[str, str]  # the version agreed to, and when
    terms_page: int  # the page of the full terms last shown
    otp: dict[str, Any]  # the passcode's keyed hash, expiry, channel, re-issues
    mailable: bool  # the issuer holds an address: a passcode may go by mail
    call: dict[str, Any]  # the landline check shown to the member
    fixing: bool  # back to the confirmation after changing one field
    expired: bool  # wiped by the idle sweep: the member is told on return


class Enrollment(Dialogue):
    # Conditions the graph asks.
    def fixing(self) -> bool:
        """Returning to the confirmation after changing one field."""
        return bool(self.slots.get("fixing"))

    def has_password(self) -> bool:
        return "password_hash" in self.slots

    # Callbacks the graph runs.
    def stop_fixing(self) -> None:
        self.slots.pop("fixing", None)


def _code(slots: Mapping[str, Any]) -> Params:
    brand = Brand(slots["brand"])
    where = "value.code.amex" if brand.code_on_front else "value.code.back"
    return {"brand": brand.label, "where": phrase(where)}


def _password(slots: Mapping[str, Any]) -> Params:
    return {"netid": phrase("value.password.own" if "netid" in slots else "value.password.issued")}


def _own_id_chosen(slots: Mapping[str, Any]) -> set[str]:
    return {Button.NETID_OWN} if "netid" in slots else set()


def _terms(slots: Mapping[str, Any]) -> Params:
    return {"version": TERMS_VERSION}


def _terms_reading(slots: Mapping[str, Any]) -> set[str]:
    """While the full text is being read, "next page" instead of "read the full terms"."""
    page = slots.get("terms_page", 0)
    return {Button.TERMS_FULL} if 0 < page < terms.COUNT else {Button.TERMS_MORE}


def _confirm(slots: Mapping[str, Any]) -> Params:
    return {
        "card": slots["card_masked"],
        "expiry": slots["expiry"],
        "netid": slots.get("netid") or phrase("value.netid.issued"),
        "emails": " / ".join(email["address"] for email in slots["emails"]),
        "newsletter": phrase("value.yes" if slots.get("newsletter") else "value.no"),
    }


def passcode_params(slots: Mapping[str, Any]) -> Params:
    """Where the passcode went, for the passcode question (sign-in asks it too)."""
    record = slots.get("otp", {"to": "", "via": "sms"})
    return {"to": record["to"], "via": phrase(f"value.via.{record['via']}")}


def _call(slots: Mapping[str, Any]) -> Params:
    return dict(slots["call"])


def passcode_options(slots: Mapping[str, Any]) -> set[str]:
    """The passcode buttons not on offer: no re-issue past the limit, no mail where the
    issuer holds no address; once the code goes by mail, neither "by mail" nor "SMS did
    not arrive" makes sense."""
    record = slots.get("otp", {})
    hidden: set[str] = set() if slots.get("mailable") else {Button.OTP_EMAIL}
    if record.get("resends", 0) >= RESEND_LIMIT:
        hidden |= {Button.OTP_RESEND, Button.OTP_EMAIL}
    if record.get("via") == "mail":
        hidden |= {Button.OTP_EMAIL, Button.OTP_PIN}
    return hidden


def _call_options(slots: Mapping[str, Any]) -> set[str]:
    return set() if slots.get("mailable") else {Button.OTP_EMAIL}


def _choices(*pairs: tuple[Button, str]) -> tuple[Choice, ...]:
    return tuple(Choice(data, label) for data, label in pairs)


def _step(state: State, **rest: Any) -> Step:
    return Step(prompt=f"ask.{state}", help=f"help.{state}", **rest)


S = State
STEPS: dict[str, Step] = {
    S.CARD: _step(
        S.CARD,
        choices=_choices(
            (Button.SIGNIN, "choice.welcome.signin"), (Button.ENROLL, "choice.welcome.enroll")
        ),
        secret=Secret.CARD,
        history_notice=HISTORY_NOTICE,
        entry=(Field.CARD, Field.EXPIRY, Field.CODE),
    ),
    S.EXPIRY: _step(S.EXPIRY, entry=(Field.EXPIRY, Field.CODE)),
    S.CODE: _step(S.CODE, secret=Secret.CODE, params=_code, entry=(Field.CODE,)),
    S.REREGISTER: _step(
        S.REREGISTER,
        choices=_choices(
            (Button.REREGISTER_SIGNIN, "choice.reregister.signin"),
            (Button.REREGISTER_CONTINUE, "choice.reregister.continue"),
            (Button.REREGISTER_STOP, "choice.reregister.stop"),
        ),
        free_text=False,
    ),
    S.PASSWORD: _step(
        S.PASSWORD,
        choices=_choices((Button.NETID_OWN, "choice.netid.own")),
        secret=Secret.PASSWORD,
        params=_password,
        hidden=_own_id_chosen,
        entry=(Field.PASSWORD, Field.REPEAT),
    ),
    S.NETID: _step(S.NETID, choices=_choices((Button.NETID_ISSUE, "choice.netid.issue"))),
    S.REPEAT: _step(S.REPEAT, secret=Secret.PASSWORD, entry=(Field.REPEAT,)),
    S.EMAIL: _step(S.EMAIL),
    S.NEWSLETTER: _step(
        S.NEWSLETTER,
        choices=_choices(
            (Button.NEWSLETTER_YES, "choice.newsletter.yes"),
            (Button.NEWSLETTER_NO, "choice.newsletter.no"),
        ),
        free_text=False,
    ),
    S.TERMS: _step(
        S.TERMS,
        choices=_choices(
            (Button.TERMS_MORE, "choice.terms.more"),
            (Button.TERMS_AGREE, "choice.terms.agree"),
            (Button.TERMS_FULL, "choice.terms.full"),
            (Button.TERMS_DECLINE, "choice.terms.decline"),
        ),
        free_text=False,
        params=_terms,
        hidden=_terms_reading,
    ),
    S.CONFIRM: _step(
        S.CONFIRM,
        choices=_choices(
            (Button.CONFIRM_OK, "choice.confirm.ok"),
            (Button.CONFIRM_EDIT, "choice.confirm.edit"),
        ),
        free_text=False,
        params=_confirm,
        on_enter=("stop_fixing",),
    ),
    S.FIX: _step(
        S.FIX,
        choices=_choices(
            (Button.FIX_CARD, "choice.fix.card"),
            (Button.FIX_NETID, "choice.fix.netid"),
            (Button.FIX_PASSWORD, "choice.fix.password"),
            (Button.FIX_EMAIL, "choice.fix.email"),
            (Button.FIX_BACK, "choice.fix.back"),
        ),
        free_text=False,
    ),
    S.OTP: _step(
        S.OTP,
        choices=_choices(
            (Button.OTP_RESEND, "choice.otp.resend"),
            (Button.OTP_EMAIL, "choice.otp.email"),
            (Button.OTP_PIN, "choice.otp.pin"),
        ),
        secret=Secret.PASSCODE,
        params=passcode_params,
        hidden=passcode_options,
    ),
    S.PIN: _step(
        S.PIN,
        choices=_choices((Button.PIN_BACK, "choice.pin.back")),
        secret=Secret.PIN,
        entry=(Field.PIN,),
    ),
    S.CALL: _step(
        S.CALL,
        choices=_choices(
            (Button.CALL_DONE, "choice.call.done"),
            (Button.CALL_AGAIN, "choice.call.again"),
            (Button.OTP_EMAIL, "choice.otp.email"),
        ),
        free_text=False,
        params=_call,
        hidden=_call_options,
    ),
    S.WALLET: _step(
        S.WALLET,
        choices=_choices(
            (Button.WALLET_ADD, "choice.wallet.add"),
            (Button.WALLET_LATER, "choice.wallet.later"),
        ),
        free_text=False,
    ),
    S.CLOSED: _step(
        S.CLOSED,
        choices=_choices((Button.START, "choice.start")),
        free_text=False,
        on_enter=("wipe",),
    ),
}

#: States of an unfinished enrollment: /cancel and the idle limit apply here.
UNFINISHED = frozenset(STEPS) - {S.WALLET, S.CLOSED}

E = Event
# Back to the confirmation after changing one field, unless the password went missing
# on the way (a new card, a new email: nothing is kept to check it against): then the
# password is asked first.
_FIXING = {"conditions": ["fixing", "has_password"]}

# The issuer's own order: card, expiry, code, email, newsletter, password (twice),
# terms, confirmation, passcode. The email comes before the password so the password
# rules ("not your email's name") are checked on the password itself, and nothing of
# the password but its argon2id hash is ever kept.
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": E.NEXT, "source": S.CARD, "dest": S.EXPIRY},
    {"trigger": E.NEXT, "source": S.EXPIRY, "dest": S.CODE},
    {"trigger": E.VERIFIED, "source": S.CODE, "dest": S.CONFIRM, **_FIXING},
    {"trigger": E.VERIFIED, "source": S.CODE, "dest": S.EMAIL},
    {"trigger": E.REGISTERED, "source": S.CODE, "dest": S.REREGISTER},
    {"trigger": E.WEAK, "source": [S.CODE, S.REREGISTER], "dest": S.PASSWORD},
    {"trigger": E.MISMATCH, "source": S.CODE, "dest": S.CARD},
    {"trigger": E.REFUSED, "source": S.CODE, "dest": S.CLOSED},
    {"trigger": E.NEXT, "source": S.REREGISTER, "dest": S.CONFIRM, **_FIXING},
    {"trigger": E.NEXT, "source": S.REREGISTER, "dest": S.EMAIL},
    {"trigger": E.STOP, "source": S.REREGISTER, "dest": S.CLOSED},
    {"trigger": E.NEXT, "source": S.EMAIL, "dest": S.PASSWORD, "conditions": "fixing"},
    {"trigger": E.NEXT, "source": S.EMAIL, "dest": S.NEWSLETTER},
    {"trigger": E.NEXT, "source": S.NEWSLETTER, "dest": S.PASSWORD},
    {"trigger": E.OWNID, "source": S.PASSWORD, "dest": S.NETID},
    {"trigger": E.NEXT, "source": S.PASSWORD, "dest": S.REPEAT},
    {"trigger": E.NEXT, "source": S.NETID, "dest": S.CONFIRM, **_FIXING},
    {"trigger": E.NEXT, "source": S.NETID, "dest": S.PASSWORD},
    {"trigger": E.MISMATCH, "source": S.REPEAT, "dest": S.PASSWORD},
    {"trigger": E.NEXT, "source": S.REPEAT, "dest": S.CONFIRM, "conditions": "fixing"},
    {"trigger": E.NEXT, "source": S.REPEAT, "dest": S.TERMS},
    {"trigger": E.AGREE, "source": S.TERMS, "dest": S.CONFIRM},
    {"trigger": E.DECLINE, "source": S.TERMS, "dest": S.CLOSED},
    {"trigger": E.NEXT, "source": S.CONFIRM, "dest": S.OTP},
    {"trigger": E.EDIT, "source": S.CONFIRM, "dest": S.FIX},
    {"trigger": E.CARD, "source": S.FIX, "dest": S.CARD},
    {"trigger": E.NETID, "source": S.FIX, "dest": S.NETID},
    {"trigger": E.PASSWORD, "source": S.FIX, "dest": S.PASSWORD},
    {"trigger": E.EMAIL, "source": S.FIX, "dest": S.EMAIL},
    {"trigger": E.BACK, "source": S.FIX, "dest": S.CONFIRM},
    {"trigger": E.CALL, "source": S.CONFIRM, "dest": S.CALL},
    {"trigger": E.NEXT, "source": [S.OTP, S.PIN, S.CALL], "dest": S.WALLET},
    {"trigger": E.FAIL, "source": [S.CONFIRM, S.OTP, S.PIN, S.CALL], "dest": S.CLOSED},
    {"trigger": E.PIN, "source": S.OTP, "dest": S.PIN},
    {"trigger": E.BACK, "source": S.PIN, "dest": S.OTP},
    {"trigger": E.EMAIL, "source": S.CALL, "dest": S.OTP},
    {"trigger": E.NEXT, "source": S.WALLET, "dest": S.MEMBER},
    {"trigger": E.SIGNIN, "source": [S.CARD, S.REREGISTER], "dest": S.SIGNIN},
]

ENROLLMENT = Flow(
    name=NAME,
    title="Netアンサー enrollment (/cancel and /start work in every state)",
    steps=STEPS,
    transitions=TRANSITIONS,
    start=S.CARD,
    dialogue=Enrollment,
    slots=Slots,
    unfinished=UNFINISHED,
    closed=S.CLOSED,
    idle_limit=IDLE_LIMIT,
    # Not flows.signin.NAME: that module reads this one's limits. The registry checks it.
    exits={S.MEMBER: membership.NAME, S.SIGNIN: "signin"},
)
