"""Number, expiry and security code, checked together against the issuer, with the
limits that stop card guessing: 5 failures from one chat user, or against one card from
any users, pause checking for 30 minutes.

Until the three match, every failure looks the same: unknown card, wrong expiry, wrong
code, registered or not, or paused. The graph event names the outcome.
"""

from datetime import timedelta

from adapters.gateways import CardKind
from bot import passcodes
from bot.turn import Turn
from flows.cards import parse_expiry
from flows.enrollment import Event
from storage import lockouts, members

GUESS_LIMIT = 5
GUESS_LOCK = timedelta(minutes=30)
_CARD_SLOTS = ("card_token", "card_index", "card_masked", "brand", "expiry", "registered")


async def check(turn: Turn, security_code: str) -> Event:
    """Number, expiry and code together. Until they match, every failure looks the
    same: unknown card, wrong expiry, wrong code, registered or not, or paused."""
    session, now = turn.session, turn.now
    user = f"guess:user:{turn.channel}:{turn.user_id}"
    card = f"guess:card:{turn.slots['card_index']}"
    subjects = sorted((user, card))  # one order everywhere: concurrent checks never deadlock
    turn.redacted = f"⟨cvc:{len(security_code)}:unchecked⟩"
    paused = [until for s in subjects if (until := await lockouts.hold(session, s, now))]
    if paused:
        turn.say("checks.locked", until=turn.local_time(max(paused)))
        forget_card(turn)
        return Event.REFUSED
    expiry_date = parse_expiry(turn.slots["expiry"], now.date())
    holder = await turn.services.issuer.verify_card(turn.card(), expiry_date, security_code)
    if holder is None:
        turn.redacted = f"⟨cvc:{len(security_code)}:mismatch⟩"
        locks = [
            await lockouts.fail(session, s, now, limit=GUESS_LIMIT, period=GUESS_LOCK)
            for s in subjects
        ]
        forget_card(turn)
        if any(locks):
            turn.say("checks.locked", until=turn.local_time(max(u for u in locks if u)))
            return Event.REFUSED
        turn.say("card.mismatch")
        return Event.MISMATCH
    turn.redacted = f"⟨cvc:{len(security_code)}:match⟩"
    # The card's own count ends with a match; the user's runs out with its period, so
    # one genuine card cannot wipe a guesser's record.
    await lockouts.clear(session, card, now)
    if holder.kind is CardKind.CORPORATE:
        turn.say("eligibility.corporate")
        return Event.REFUSED
    if holder.kind is CardKind.CLUB_ON:
        turn.say("eligibility.clubon", url=turn.services.club_on_url)
        return Event.REFUSED
    paused_until = await passcodes.paused_until(turn)
    if paused_until:
        turn.say("identity.locked", until=turn.local_time(paused_until))
        return Event.REFUSED
    if holder.registered or await members.card_registered(session, turn.slots["card_index"]):
        turn.slots["registered"] = True
        return Event.REGISTERED
    return Event.VERIFIED


def forget_card(turn: Turn) -> None:
    for slot in _CARD_SLOTS:
        turn.slots.pop(slot, None)
