"""One-time passcodes for the identity check: 6 random digits, valid 5 minutes,
single use, kept only as a keyed hash bound to the conversation."""

import hmac
from datetime import datetime, timedelta
from typing import Any

from bot.turn import Turn
from flows.problems import Invalid, Problem
from flows.text import strip_separators

TTL = timedelta(minutes=5)
RESEND_SPACING = timedelta(seconds=60)
MAX_RESENDS = 3
MAX_ATTEMPTS = 5
_PURPOSE = "passcode"


class Verdict:
    RIGHT = "right"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"


async def send(turn: Turn) -> None:
    """Issue a new passcode (replacing any earlier one) and queue it for delivery."""
    holder = await turn.services.issuer.cardholder(turn.card())
    if holder is None:
        raise LookupError("the issuer no longer knows this card")
    code = f"{turn.services.rng.randrange(10**6):06d}"
    if holder.mobile:
        via, to, shown = "sms", holder.personal.phone, _mask_phone(holder.personal.phone)
    else:  # a landline cannot receive SMS: the passcode goes to the first email address
        address = turn.slots["emails"][0]["address"]
        via, to, shown = "mail", address, _mask_email(address)
    record: dict[str, Any] = turn.slots.setdefault("otp", {"resends": 0, "attempts": 0})
    record.update(
        mac=_mac(turn, code),
        sent=turn.now.isoformat(),
        expires=(turn.now + TTL).isoformat(),
        via=via,
        to=shown,
    )
    turn.notify(via, to, f"{via}.passcode", code=code)


def resend_refusal(turn: Turn) -> tuple[str, dict[str, int]] | None:
    """Why a re-issue is not allowed now (message key and params), or None."""
    record = turn.slots["otp"]
    if record["resends"] >= MAX_RESENDS:
        return "otp.resend_limit", {}
    wait = datetime.fromisoformat(record["sent"]) + RESEND_SPACING - turn.now
    if wait > timedelta(0):
        return "otp.resend_wait", {"seconds": max(1, round(wait.total_seconds()))}
    return None


def check(turn: Turn, typed: str) -> str:
    """Compare a typed passcode. A wrong one counts against the limit; re-issues never
    reset that count. A right one is used up."""
    code = strip_separators(typed)
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise Invalid(Problem("otp.format"))
    record = turn.slots["otp"]
    if turn.now >= datetime.fromisoformat(record["expires"]):
        return Verdict.EXPIRED
    if hmac.compare_digest(record["mac"], _mac(turn, code)):
        turn.slots.pop("otp")
        return Verdict.RIGHT
    record["attempts"] += 1
    return Verdict.LOCKED if record["attempts"] >= MAX_ATTEMPTS else Verdict.WRONG


def attempts_left(turn: Turn) -> int:
    return MAX_ATTEMPTS - turn.slots["otp"]["attempts"]


def _mac(turn: Turn, code: str) -> str:
    return turn.services.vault.index(f"{turn.conversation_id}:{code}", _PURPOSE)


def _mask_phone(phone: str) -> str:
    return "*" * (len(phone) - 4) + phone[-4:]


def _mask_email(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local[:2]}***@{domain}"
