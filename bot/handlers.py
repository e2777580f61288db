"""What happens with an answer at each step: validate it with the flow's validators,
talk to the issuer where needed, keep what may be kept, and name the graph event
to fire. A handler returns that event, or None to stay and ask again."""

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot import passcodes
from bot.gateways import CardKind
from bot.turn import Turn
from flows.cards import parse_card_number, parse_expiry, parse_security_code
from flows.emails import parse_emails
from flows.enrollment import TERMS_VERSION
from flows.netids import issue_net_answer_id, parse_net_answer_id
from flows.passwords import check_password, fold_password, strength, substrings
from flows.personal import Personal
from flows.problems import Invalid, Problem
from storage import members

Handler = Callable[[Turn, str], Awaitable[str | None]]

_PASSWORD_PART = "password-part"


async def card(turn: Turn, answer: str) -> str:
    try:
        number = parse_card_number(answer)
    except Invalid:
        turn.redacted = "⟨card:invalid⟩"
        raise
    turn.redacted = f"⟨card:{number.brand}:{len(number.digits)}:luhn-ok⟩"
    for stale in ("expiry", "registered"):
        turn.slots.pop(stale, None)
    turn.keep_card(number)
    turn.say("card.accepted", sensitive=True, brand=number.brand.label, card=number.masked)
    return "next"


async def expiry(turn: Turn, answer: str) -> str:
    turn.slots["expiry"] = parse_expiry(answer, turn.now.date()).text
    return "next"


async def code(turn: Turn, answer: str) -> str:
    number = turn.card()
    try:
        security_code = parse_security_code(answer, number.brand)
    except Invalid:
        turn.redacted = "⟨cvc:invalid⟩"
        raise
    expiry_date = parse_expiry(turn.slots["expiry"], turn.now.date())
    holder = await turn.services.issuer.verify_card(number, expiry_date, security_code)
    if holder is None:
        turn.redacted = f"⟨cvc:{len(security_code)}:mismatch⟩"
        turn.say("card.mismatch")
        _forget_card(turn)
        return "mismatch"
    turn.redacted = f"⟨cvc:{len(security_code)}:match⟩"
    if holder.kind is CardKind.CORPORATE:
        turn.say("eligibility.corporate")
        return "refused"
    if holder.kind is CardKind.CLUB_ON:
        turn.say("eligibility.clubon")
        return "refused"
    if holder.registered or await members.card_registered(turn.session, turn.slots["card_index"]):
        turn.slots["registered"] = True
        return "registered"
    return "verified"


async def reregister(turn: Turn, answer: str) -> str:
    return "next" if answer == "reregister:continue" else "stop"


async def password(turn: Turn, answer: str) -> str:
    if answer == "netid:own":
        return "ownid"
    personal = await _personal(turn)
    try:
        chosen = check_password(answer, personal, _email_locals(turn))
    except Invalid:
        turn.redacted = "⟨password:invalid⟩"
        raise
    turn.redacted = f"⟨password:{len(chosen)}:ok⟩"
    vault = turn.services.vault
    turn.slots["password_hash"] = await vault.hash_password(chosen)
    # Keyed fingerprints of the password's pieces let a later step (the email) check
    # "the password contains X" without the password itself being kept anywhere.
    turn.slots["password_marks"] = sorted(
        vault.index(part, _PASSWORD_PART) for part in substrings(chosen)
    )
    turn.say("password.strength", strength=f"value.strength.{strength(chosen, personal)}")
    return "next"


async def netid(turn: Turn, answer: str) -> str:
    if answer == "netid:issue":
        turn.slots.pop("netid", None)
        turn.say("netid.will_issue")
        return "next"
    chosen = parse_net_answer_id(answer, await _personal(turn), _email_locals(turn))
    if await members.net_answer_id_taken(turn.session, chosen):
        raise Invalid(Problem("netid.taken"))
    turn.slots["netid"] = chosen
    turn.say("netid.chosen", netid=chosen)
    return "next"


async def repeat(turn: Turn, answer: str) -> str:
    typed = fold_password(answer)
    same = await turn.services.vault.verify_password(turn.slots["password_hash"], typed)
    turn.redacted = f"⟨password:{'match' if same else 'mismatch'}⟩"
    if same:
        return "next"
    turn.say("repeat.mismatch")
    for slot in ("password_hash", "password_marks"):
        turn.slots.pop(slot)
    return "mismatch"


async def email(turn: Turn, answer: str) -> str:
    addresses = parse_emails(answer)
    turn.slots["emails"] = [{"address": a.address, "mobile": a.mobile} for a in addresses]
    for address in addresses:
        if address.legacy:
            turn.say("email.legacy", address=address.address)
    marks = set(turn.slots.get("password_marks", ()))
    vault = turn.services.vault
    if any(
        len(address.local_part) >= 4
        and vault.index(address.local_part.lower(), _PASSWORD_PART) in marks
        for address in addresses
    ):
        turn.say("password.email_collision")
        for slot in ("password_hash", "password_marks"):
            turn.slots.pop(slot)
        return "weak"
    return "next"


async def newsletter(turn: Turn, answer: str) -> str:
    turn.slots["newsletter"] = answer == "newsletter:yes"
    return "next"


async def terms(turn: Turn, answer: str) -> str | None:
    if answer == "terms:full":
        turn.say("terms.full", version=TERMS_VERSION)
        return None
    if answer == "terms:decline":
        turn.say("terms.declined")
        return "decline"
    turn.slots["terms"] = {"version": TERMS_VERSION, "at": turn.now.isoformat()}
    return "agree"


async def confirm(turn: Turn, answer: str) -> str:
    if answer == "confirm:edit":
        return "edit"
    await passcodes.send(turn)
    return "next"


async def fix(turn: Turn, answer: str) -> str:
    field = answer.removeprefix("fix:")
    if field != "back":
        turn.slots["fixing"] = True
    if field == "card":
        _forget_card(turn)
    return field


async def otp(turn: Turn, answer: str) -> str | None:
    if answer == "otp:resend":
        refusal = passcodes.resend_refusal(turn)
        if refusal:
            key, params = refusal
            turn.say(key, **params)
            return None
        turn.slots["otp"]["resends"] += 1
        await passcodes.send(turn)
        record = turn.slots["otp"]
        turn.say("otp.resent", via=f"value.via.{record['via']}", to=record["to"])
        return None
    try:
        verdict = passcodes.check(turn, answer)
    except Invalid:
        turn.redacted = "⟨otp:invalid⟩"
        raise
    turn.redacted = f"⟨otp:{verdict}⟩"
    if verdict == passcodes.Verdict.EXPIRED:
        turn.say("otp.expired")
        return None
    if verdict == passcodes.Verdict.WRONG:
        turn.say("otp.wrong", remaining=passcodes.attempts_left(turn))
        return None
    if verdict == passcodes.Verdict.LOCKED:
        turn.say("otp.locked")
        return "fail"
    await _complete(turn)
    return "next"


async def wallet(turn: Turn, answer: str) -> str:
    if answer == "wallet:add":
        turn.say("wallet.add", card=turn.slots["card_masked"])
    else:
        turn.say("wallet.later")
    return "next"


async def member(turn: Turn, answer: str) -> None:
    return None


async def closed(turn: Turn, answer: str) -> str:
    return "restart"


HANDLERS: dict[str, Handler] = {
    "card": card,
    "expiry": expiry,
    "code": code,
    "reregister": reregister,
    "password": password,
    "netid": netid,
    "repeat": repeat,
    "email": email,
    "newsletter": newsletter,
    "terms": terms,
    "confirm": confirm,
    "fix": fix,
    "otp": otp,
    "wallet": wallet,
    "member": member,
    "closed": closed,
}


async def _personal(turn: Turn) -> Personal:
    holder = await turn.services.issuer.cardholder(turn.card())
    if holder is None:
        raise LookupError("the issuer no longer knows this card")
    return holder.personal


def _email_locals(turn: Turn) -> list[str]:
    return [email["address"].rpartition("@")[0] for email in turn.slots.get("emails", [])]


def _forget_card(turn: Turn) -> None:
    for slot in ("card_token", "card_index", "card_masked", "brand", "expiry", "registered"):
        turn.slots.pop(slot, None)


async def _complete(turn: Turn) -> None:
    """Create the member, link this chat, mail the ID; keep only what the member state shows."""
    slots = turn.slots
    chosen = slots.get("netid")
    if chosen is None or await members.net_answer_id_taken(turn.session, chosen):
        chosen = await _fresh_net_answer_id(turn)
    await members.register(
        turn.session,
        channel=turn.channel,
        user_id=turn.user_id,
        at=turn.now,
        net_answer_id=chosen,
        password_hash=slots["password_hash"],
        card_token=slots["card_token"],
        card_index=slots["card_index"],
        card_masked=slots["card_masked"],
        emails={"addresses": slots["emails"]},
        newsletter=bool(slots.get("newsletter")),
        terms_version=slots["terms"]["version"],
        terms_agreed_at=datetime.fromisoformat(slots["terms"]["at"]),
    )
    for address in slots["emails"]:
        turn.notify("mail", address["address"], "mail.done", netid=chosen)
    turn.say("done", netid=chosen)
    card_masked = slots["card_masked"]
    slots.clear()
    slots.update(netid=chosen, card_masked=card_masked)


async def _fresh_net_answer_id(turn: Turn) -> str:
    personal = await _personal(turn)
    while True:
        candidate = issue_net_answer_id(personal, turn.services.rng.choice)
        if not await members.net_answer_id_taken(turn.session, candidate):
            return candidate
