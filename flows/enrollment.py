"""The enrollment conversation as data: its steps, and the graph between them.

Each step names the question asked on arriving, the buttons offered, and what kind
of secret the member types there (so channels can delete it and transcripts
redact it). The graph is built once per process and driven on a fresh
:class:`~flows.dialogue.Dialogue` for every message.
"""

from dataclasses import dataclass
from enum import StrEnum

from transitions import Machine, State

from flows.replies import Choice


class Secret(StrEnum):
    CARD = "card"
    CODE = "code"
    PASSWORD = "password"
    PASSCODE = "passcode"
    PIN = "pin"


@dataclass(frozen=True)
class Step:
    prompt: str
    choices: tuple[Choice, ...] = ()
    free_text: bool = True  # False: only the offered choices are understood
    secret: Secret | None = None


START = "card"
MEMBER = "member"
CLOSED = "closed"
WALLET = "wallet"
CALL = "call"  # landline members call the toll-free number
TERMS_VERSION = "2026-04"

STEPS: dict[str, Step] = {
    "card": Step("ask.card", secret=Secret.CARD),
    "expiry": Step("ask.expiry"),
    "code": Step("ask.code", secret=Secret.CODE),
    "reregister": Step(
        "ask.reregister",
        (
            Choice("reregister:continue", "choice.reregister.continue"),
            Choice("reregister:stop", "choice.reregister.stop"),
        ),
        free_text=False,
    ),
    "password": Step(
        "ask.password", (Choice("netid:own", "choice.netid.own"),), secret=Secret.PASSWORD
    ),
    "netid": Step("ask.netid", (Choice("netid:issue", "choice.netid.issue"),)),
    "repeat": Step("ask.repeat", secret=Secret.PASSWORD),
    "email": Step("ask.email"),
    "newsletter": Step(
        "ask.newsletter",
        (
            Choice("newsletter:yes", "choice.newsletter.yes"),
            Choice("newsletter:no", "choice.newsletter.no"),
        ),
        free_text=False,
    ),
    "terms": Step(
        "ask.terms",
        (
            Choice("terms:agree", "choice.terms.agree"),
            Choice("terms:full", "choice.terms.full"),
            Choice("terms:decline", "choice.terms.decline"),
        ),
        free_text=False,
    ),
    "confirm": Step(
        "ask.confirm",
        (Choice("confirm:ok", "choice.confirm.ok"), Choice("confirm:edit", "choice.confirm.edit")),
        free_text=False,
    ),
    "fix": Step(
        "ask.fix",
        (
            Choice("fix:card", "choice.fix.card"),
            Choice("fix:netid", "choice.fix.netid"),
            Choice("fix:password", "choice.fix.password"),
            Choice("fix:email", "choice.fix.email"),
            Choice("fix:back", "choice.fix.back"),
        ),
        free_text=False,
    ),
    "otp": Step(
        "ask.otp",
        (
            Choice("otp:resend", "choice.otp.resend"),
            Choice("otp:email", "choice.otp.email"),
            Choice("otp:pin", "choice.otp.pin"),
        ),
        secret=Secret.PASSCODE,
    ),
    "pin": Step("ask.pin", (Choice("pin:back", "choice.pin.back"),), secret=Secret.PIN),
    CALL: Step(
        "ask.call",
        (
            Choice("otp:called", "choice.call.done"),
            Choice("call:again", "choice.call.again"),
            Choice("otp:email", "choice.otp.email"),
        ),
        free_text=False,
    ),
    WALLET: Step(
        "ask.wallet",
        (Choice("wallet:add", "choice.wallet.add"), Choice("wallet:later", "choice.wallet.later")),
        free_text=False,
    ),
    MEMBER: Step("ask.member"),
    CLOSED: Step("ask.closed", (Choice("start", "choice.start"),), free_text=False),
}

#: States of an unfinished enrollment: /cancel and the idle limit apply here.
ENROLLING = frozenset(STEPS) - {WALLET, MEMBER, CLOSED}

# Back to the confirmation after changing one field, unless the password went missing
# on the way (a mismatch, a collision): then the password is asked first.
_FIXING = {"conditions": ["fixing", "has_password"]}

TRANSITIONS: list[dict[str, object]] = [
    {"trigger": "next", "source": "card", "dest": "expiry"},
    {"trigger": "next", "source": "expiry", "dest": "code"},
    {"trigger": "verified", "source": "code", "dest": "confirm", **_FIXING},
    {"trigger": "verified", "source": "code", "dest": "password"},
    {"trigger": "registered", "source": "code", "dest": "reregister"},
    {"trigger": "weak", "source": ["code", "reregister"], "dest": "password"},
    {"trigger": "mismatch", "source": "code", "dest": "card"},
    {"trigger": "refused", "source": "code", "dest": CLOSED},
    {"trigger": "next", "source": "reregister", "dest": "confirm", **_FIXING},
    {"trigger": "next", "source": "reregister", "dest": "password"},
    {"trigger": "stop", "source": "reregister", "dest": CLOSED},
    {"trigger": "ownid", "source": "password", "dest": "netid"},
    {"trigger": "next", "source": "password", "dest": "repeat"},
    {"trigger": "next", "source": "netid", "dest": "confirm", **_FIXING},
    {"trigger": "next", "source": "netid", "dest": "password"},
    {"trigger": "mismatch", "source": "repeat", "dest": "password"},
    {"trigger": "next", "source": "repeat", "dest": "confirm", **_FIXING},
    {"trigger": "next", "source": "repeat", "dest": "newsletter", "conditions": "has_emails"},
    {"trigger": "next", "source": "repeat", "dest": "email"},
    {"trigger": "next", "source": "email", "dest": "newsletter"},
    {"trigger": "weak", "source": "email", "dest": "password"},
    {"trigger": "next", "source": "newsletter", "dest": "confirm", **_FIXING},
    {"trigger": "next", "source": "newsletter", "dest": "terms"},
    {"trigger": "agree", "source": "terms", "dest": "confirm"},
    {"trigger": "decline", "source": "terms", "dest": CLOSED},
    {"trigger": "next", "source": "confirm", "dest": "otp"},
    {"trigger": "edit", "source": "confirm", "dest": "fix"},
    *(
        {"trigger": field, "source": "fix", "dest": field}
        for field in ("card", "netid", "password", "email")
    ),
    {"trigger": "back", "source": "fix", "dest": "confirm"},
    {"trigger": "call", "source": "confirm", "dest": "call"},
    {"trigger": "next", "source": ["otp", "pin", "call"], "dest": WALLET},
    {"trigger": "fail", "source": ["confirm", "otp", "pin", CALL], "dest": CLOSED},
    {"trigger": "pin", "source": "otp", "dest": "pin"},
    {"trigger": "back", "source": "pin", "dest": "otp"},
    {"trigger": "email", "source": "call", "dest": "otp"},
    {"trigger": "next", "source": WALLET, "dest": MEMBER},
    {"trigger": "cancel", "source": sorted(ENROLLING), "dest": CLOSED},
    {"trigger": "restart", "source": "*", "dest": START, "before": "wipe"},
]

_EVERYWHERE = ("cancel", "restart")

_STATES = [
    State("confirm", on_enter="stop_fixing"),
    State(CLOSED, on_enter="wipe"),
    *(State(name) for name in STEPS if name not in ("confirm", CLOSED)),
]

machine = Machine(
    model=None, states=_STATES, transitions=TRANSITIONS, initial=START, auto_transitions=False
)


def mermaid() -> str:
    """The graph as a Mermaid state diagram, drawn from the same definition. The
    /cancel and /start edges, which leave every state, are left out for legibility."""
    from transitions.extensions import GraphMachine

    class _Model:
        pass

    drawing = GraphMachine(
        model=_Model(),
        states=_STATES,
        transitions=[t for t in TRANSITIONS if t["trigger"] not in _EVERYWHERE],
        initial=START,
        auto_transitions=False,
        show_conditions=True,
        graph_engine="mermaid",
        title="Netアンサー enrollment (/cancel and /start work in every state)",
    )
    return drawing.get_graph().draw(None)
