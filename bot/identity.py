"""The passcode and PIN steps, shared by enrollment and sign-in: re-issues, the switch
to mail or to the card PIN, the shared failure count, and what a right answer leads to
(``done``: complete the enrollment, or link the signed-in member).

Both flows name these buttons and events alike (``otp:resend``, ``pin:back``; ``next``,
``pin``, ``back``, ``fail``), so one pair of handlers serves both.
"""

from collections.abc import Awaitable, Callable

from bot import passcodes
from bot.handlers import Handler
from bot.turn import Turn
from flows.enrollment import Button, Event
from flows.problems import Invalid
from flows.replies import Reply, phrase

Done = Callable[[Turn], Awaitable[None]]


def steps(*, done: Done) -> tuple[Handler, Handler]:
    """The handlers of the passcode step and of the PIN step."""

    async def otp(turn: Turn, answer: str) -> str | None:
        if answer == Button.OTP_PIN:
            return Event.PIN
        if answer in (Button.OTP_RESEND, Button.OTP_EMAIL):
            return await _resend(turn, by_mail=answer == Button.OTP_EMAIL)
        try:
            verdict = await passcodes.check(turn, answer)
        except Invalid:
            turn.redacted = "⟨otp:invalid⟩"
            raise
        turn.redacted = f"⟨otp:{verdict}⟩"
        if verdict == passcodes.Verdict.EXPIRED:
            turn.say("otp.expired")
            return None
        return await _outcome(turn, verdict, wrong="otp.wrong", done=done)

    async def pin(turn: Turn, answer: str) -> str | None:
        if answer == Button.PIN_BACK:
            return Event.BACK
        try:
            verdict = await passcodes.check_pin(turn, answer)
        except Invalid:
            turn.redacted = "⟨pin:invalid⟩"
            raise
        turn.redacted = f"⟨pin:{verdict}⟩"
        return await _outcome(turn, verdict, wrong="pin.wrong", done=done)

    return otp, pin


async def paused(turn: Turn) -> bool:
    """Whether the card's identity check is paused; if so, the member is told until when."""
    until = await passcodes.paused_until(turn)
    if until:
        turn.say("identity.locked", until=turn.local_time(until))
    return until is not None


async def _resend(turn: Turn, *, by_mail: bool) -> str | None:
    if await paused(turn):  # no new codes while the card is paused
        return Event.FAIL
    if by_mail and not await passcodes.mailable(turn):  # pressed on an older message
        turn.say("otp.no_mail")
        return None
    refusal = passcodes.resend_refusal(turn, by_mail=by_mail)
    if refusal:
        turn.replies.append(Reply(*refusal))
        return None
    turn.slots["otp"]["resends"] += 1
    await passcodes.send(turn, by_mail=by_mail)
    record = turn.slots["otp"]
    turn.say("otp.resent", via=phrase(f"value.via.{record['via']}"), to=record["to"])
    return None


async def _outcome(turn: Turn, verdict: passcodes.Verdict, *, wrong: str, done: Done) -> str | None:
    if verdict == passcodes.Verdict.WRONG:
        turn.say(wrong, remaining=await passcodes.attempts_left(turn))
        return None
    if verdict == passcodes.Verdict.LOCKED:
        until = await passcodes.paused_until(turn)
        turn.say("identity.locked", until=turn.local_time(until or turn.now))
        return Event.FAIL
    await done(turn)
    return Event.NEXT
