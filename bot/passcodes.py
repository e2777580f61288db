"""The identity check before completion: one-time passcodes (6 random digits, valid
5 minutes, single use, kept only as a keyed hash bound to the conversation), the
card-PIN fallback, and the shared failure count that pauses a card's enrollment.

Failures are counted per card in the database, not in the conversation, so neither
/start nor a second chat account resets them; re-issuing a code never does either.
"""

import hmac
import math
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.notifications import mask_email, mask_phone
from bot.turn import NotificationKind, Turn
from flows.enrollment import RESEND_LIMIT
from flows.problems import Invalid, Problem
from flows.text import strip_separators
from storage import lockouts

TTL = timedelta(minutes=5)
RESEND_SPACING = timedelta(seconds=60)
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=30)
_PURPOSE = "passcode"


class Verdict(StrEnum):
    RIGHT = "right"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"


async def send(turn: Turn, *, by_mail: bool = False) -> None:
    """Issue a new passcode (replacing any earlier one) and queue it for delivery: by
    SMS to the issuer's mobile number, or by mail to the address the issuer holds; never
    to an address typed in the chat, which proves nothing about who typed it. Callers
    offer mail only where :func:`mailable`."""
    holder = await turn.holder()
    code = f"{turn.services.rng.randrange(10**6):06d}"
    if holder.mobile and not by_mail:
        via, to = NotificationKind.SMS, holder.personal.phone
        shown = mask_phone(to)
    elif holder.email is not None:
        via, to, shown = NotificationKind.MAIL, holder.email, mask_email(holder.email)
    else:
        raise ValueError("the issuer holds no address to mail a passcode to")
    record: dict[str, Any] = turn.slots.setdefault("otp", {"resends": 0})
    record.update(
        mac=_mac(turn, code),
        sent=turn.now.isoformat(),
        expires=(turn.now + TTL).isoformat(),
        via=via.value,
        to=shown,
    )
    turn.notify(via, to, f"{via}.passcode", code=code, expires=turn.now + TTL)


async def mailable(turn: Turn) -> bool:
    """Whether a passcode can go by mail: the issuer holds an address for the cardholder.
    Kept in the slots, so the buttons shown follow it."""
    turn.slots["mailable"] = (await turn.holder()).email is not None
    return bool(turn.slots["mailable"])


def resend_refusal(turn: Turn, *, by_mail: bool = False) -> tuple[str, dict[str, int]] | None:
    """Why a re-issue is not allowed now (message key and params), or None. Switching
    from SMS to mail is a re-issue too, but need not wait: the member chose another way."""
    record = turn.slots["otp"]
    if record["resends"] >= RESEND_LIMIT:
        return "otp.resend_limit", {}
    if by_mail and record["via"] == NotificationKind.SMS:
        return None
    wait = datetime.fromisoformat(record["sent"]) + RESEND_SPACING - turn.now
    if wait > timedelta(0):
        return "otp.resend_wait", {"seconds": _seconds_to_wait(wait)}
    return None


def _seconds_to_wait(wait: timedelta) -> int:
    """Whole seconds, rounded up so a member never retries too early, and never more
    than the spacing itself: clocks of separate processes need not agree to the second."""
    return min(math.ceil(wait.total_seconds()), int(RESEND_SPACING.total_seconds()))


async def check(turn: Turn, typed: str) -> Verdict:
    """Compare a typed passcode. A right one is used up; a wrong one counts. While the
    card is paused nothing is compared, whichever conversation asks."""
    code = strip_separators(typed)
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise Invalid(Problem("otp.format"))
    if await paused_until(turn):
        return Verdict.LOCKED
    record = turn.slots["otp"]
    if turn.now >= datetime.fromisoformat(record["expires"]):
        return Verdict.EXPIRED
    if hmac.compare_digest(record["mac"], _mac(turn, code)):
        turn.slots.pop("otp")
        await lockouts.clear(turn.session, _subject(turn), turn.now)
        return Verdict.RIGHT
    return await _fail(turn)


async def check_pin(turn: Turn, typed: str) -> Verdict:
    pin = strip_separators(typed)
    if not (len(pin) == 4 and pin.isascii() and pin.isdigit()):
        raise Invalid(Problem("pin.format"))
    if await paused_until(turn):
        return Verdict.LOCKED
    if await turn.services.issuer.verify_pin(turn.card(), pin):
        turn.slots.pop("otp", None)
        await lockouts.clear(turn.session, _subject(turn), turn.now)
        return Verdict.RIGHT
    return await _fail(turn)


async def paused_until(turn: Turn) -> datetime | None:
    """When this card's enrollment may be tried again, while it is paused. Holds the
    card's count for the rest of the turn, so checks of one card take turns."""
    return await lockouts.hold(turn.session, _subject(turn), turn.now)


async def attempts_left(turn: Turn) -> int:
    count = await lockouts.failures(turn.session, _subject(turn), turn.now, period=LOCK_FOR)
    return MAX_FAILURES - count


async def _fail(turn: Turn) -> Verdict:
    until = await lockouts.fail(
        turn.session, _subject(turn), turn.now, limit=MAX_FAILURES, period=LOCK_FOR
    )
    return Verdict.LOCKED if until else Verdict.WRONG


def _subject(turn: Turn) -> str:
    return f"identity:{turn.slots['card_index']}"


def _mac(turn: Turn, code: str) -> str:
    return turn.services.vault.index(f"{turn.conversation_id}:{code}", _PURPOSE)
