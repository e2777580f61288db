"""The enrollment flow's handlers: what happens with an answer at each step."""

import time
from datetime import timedelta

from bot import card_check, completion, identity, passcodes
from bot.handlers import Handlers
from bot.notifications import mask_phone
from bot.telephony import phone_index
from bot.turn import Turn
from flows import terms as terms_text
from flows.cards import looks_like_card, parse_card_number, parse_expiry, parse_security_code
from flows.emails import parse_emails
from flows.enrollment import ENROLLMENT, TERMS_VERSION, Button, Event, State
from flows.flow import RESTART
from flows.netids import parse_net_answer_id
from flows.passwords import check_password, strength
from flows.personal import Personal
from flows.problems import Invalid, Problem
from flows.questions import question_in
from flows.replies import phrase
from flows.text import fold
from storage import call_checks, members

#: Typed instead of pressing "sign in" (folded, case-free).
_SIGN_IN_WORDS = frozenset(
    {"ログイン", "サインイン", "/login", "login", "log in", "sign in", "signin"}
)
CALL_WINDOW_MINUTES = 15


async def card(turn: Turn, answer: str) -> str | None:
    if answer == Button.SIGNIN or fold(answer).casefold() in _SIGN_IN_WORDS:
        return _to_signin(turn)
    if answer == Button.ENROLL:
        turn.say("welcome.enroll")
        return None
    try:
        number = parse_card_number(answer)
    except Invalid:
        if await _asks_for_figures(turn, answer):
            turn.say("member.not_linked")  # and the card question again: enroll first
            return None
        turn.redacted = "⟨card:invalid⟩"
        raise
    turn.redacted = f"⟨card:{number.brand}:{len(number.digits)}:luhn-ok⟩"
    card_check.forget_card(turn)
    turn.keep_card(number)
    turn.say("card.accepted", sensitive=True, brand=number.brand.label, card=number.masked)
    return Event.NEXT


async def expiry(turn: Turn, answer: str) -> str:
    turn.slots["expiry"] = parse_expiry(answer, turn.now.date()).text
    turn.redacted = "⟨expiry:ok⟩"  # card data: not in the transcript
    return Event.NEXT


async def code(turn: Turn, answer: str) -> str:
    number = turn.card()
    try:
        security_code = parse_security_code(answer, number.brand)
    except Invalid:
        turn.redacted = "⟨cvc:invalid⟩"
        raise
    # Every outcome is answered no sooner than the slowest would be, so timing tells
    # nothing either; the engine waits after the commit, holding no database lock.
    turn.answer_not_before = time.monotonic() + turn.services.check_floor
    event = await card_check.check(turn, security_code)
    if event == Event.VERIFIED and _choices_collide(turn, (await turn.holder()).personal):
        return Event.WEAK
    return event


async def reregister(turn: Turn, answer: str) -> str:
    if answer == Button.REREGISTER_SIGNIN:
        return _to_signin(turn)
    if answer != Button.REREGISTER_CONTINUE:
        return Event.STOP
    return Event.WEAK if _choices_collide(turn, (await turn.holder()).personal) else Event.NEXT


def _to_signin(turn: Turn) -> str:
    """The member has an ID: sign-in asks for it afresh, nothing of the card is kept."""
    turn.slots.clear()
    return Event.SIGNIN


def _choices_collide(turn: Turn, personal: Personal) -> bool:
    """When the card is changed from the confirmation, the ID and password chosen for the
    old card may hold the new holder's birth date or phone. An ID that does is dropped
    (one will be issued); the password, of which nothing but its hash is kept, cannot be
    checked, so it is always set anew."""
    if not turn.slots.get("fixing"):
        return False
    netid = turn.slots.get("netid")
    if netid and personal.collisions(netid):
        turn.slots.pop("netid")
        turn.say("netid.dropped")
    turn.say("password.holder_changed")
    turn.slots.pop("password_hash", None)
    return True


async def password(turn: Turn, answer: str) -> str:
    if answer == Button.NETID_OWN:
        return Event.OWNID
    personal = (await turn.holder()).personal
    try:
        chosen = check_password(answer, personal, _email_locals(turn))
    except Invalid:
        turn.redacted = "⟨password:invalid⟩"
        raise
    turn.redacted = f"⟨password:{len(chosen)}:ok⟩"
    turn.slots["password_hash"] = turn.hashed(chosen)
    turn.say("password.strength", strength=phrase(f"value.strength.{strength(chosen, personal)}"))
    return Event.NEXT


async def netid(turn: Turn, answer: str) -> str:
    if answer == Button.NETID_ISSUE:
        turn.slots.pop("netid", None)  # the next question says it will be issued
        return Event.NEXT
    if looks_like_card(answer):  # a card number pasted here: refused and deleted, never shown
        turn.possibly_secret = True
        raise Invalid(Problem("netid.card"))
    try:
        chosen = parse_net_answer_id(answer, (await turn.holder()).personal, _email_locals(turn))
    except Invalid as invalid:
        # A password typed here (netid.password): refused unrepeated and deleted like one.
        turn.possibly_secret = any(p.key == "netid.password" for p in invalid.problems)
        raise
    password_hash = turn.slots.get("password_hash")  # chosen already: fixing the ID
    if password_hash and turn.verified(password_hash, chosen):
        turn.possibly_secret = True
        raise Invalid(Problem("netid.same_as_password"))
    if await completion.taken(turn, chosen):
        raise Invalid(Problem("netid.taken"))
    turn.redacted = "⟨netid:ok⟩"  # not as typed: it may be a password that passes as an ID
    turn.slots["netid"] = chosen
    turn.say("netid.chosen", netid=chosen)
    return Event.NEXT


async def repeat(turn: Turn, answer: str) -> str:
    same = turn.verified(turn.slots["password_hash"], answer)
    turn.redacted = f"⟨password:{'match' if same else 'mismatch'}⟩"
    if same:
        return Event.NEXT
    turn.say("repeat.mismatch")
    turn.slots.pop("password_hash")
    return Event.MISMATCH


async def email(turn: Turn, answer: str) -> str:
    addresses = parse_emails(answer)
    turn.slots["emails"] = [{"address": a.address, "mobile": a.mobile} for a in addresses]
    for address in addresses:
        if address.legacy:
            turn.say("email.legacy", address=address.address)
    if turn.slots.pop("password_hash", None):  # changed from the confirmation
        turn.say("password.again")
    return Event.NEXT


async def newsletter(turn: Turn, answer: str) -> str:
    turn.slots["newsletter"] = answer == Button.NEWSLETTER_YES
    return Event.NEXT


async def terms(turn: Turn, answer: str) -> str | None:
    if answer in (Button.TERMS_FULL, Button.TERMS_MORE):
        shown = turn.slots.get("terms_page", 0) if answer == Button.TERMS_MORE else 0
        page = min(shown + 1, terms_text.COUNT)
        turn.slots["terms_page"] = page
        turn.say(f"terms.page.{page}")
        return None
    turn.slots.pop("terms_page", None)
    if answer == Button.TERMS_DECLINE:
        turn.say("terms.declined")
        return Event.DECLINE
    turn.slots["terms"] = {"version": TERMS_VERSION, "at": turn.now.isoformat()}
    return Event.AGREE


async def confirm(turn: Turn, answer: str) -> str:
    if answer == Button.CONFIRM_EDIT:
        return Event.EDIT
    if await identity.paused(turn):
        return Event.FAIL
    holder = await turn.holder()
    await passcodes.mailable(turn)
    if holder.mobile:
        await passcodes.send(turn)
        return Event.NEXT
    await _start_call(turn, holder.personal.phone)
    return Event.CALL


async def fix(turn: Turn, answer: str) -> str:
    event = Event(answer.removeprefix("fix:"))  # card, netid, password, email or back
    if event != Event.BACK:
        turn.slots["fixing"] = True
    if event == Event.CARD:
        card_check.forget_card(turn)
    return event


async def call(turn: Turn, answer: str) -> str | None:
    if answer == Button.OTP_EMAIL and not await passcodes.mailable(turn):
        turn.say("otp.no_mail")
        return None
    if answer == Button.OTP_EMAIL:
        await passcodes.send(turn, by_mail=True)
        record = turn.slots["otp"]
        turn.say("otp.sent", via=phrase(f"value.via.{record['via']}"), to=record["to"])
        await call_checks.finish(turn.session, turn.conversation_id)
        return Event.EMAIL
    if answer == Button.CALL_AGAIN:
        await _start_call(turn, (await turn.holder()).personal.phone)
        turn.say("call.restarted", minutes=CALL_WINDOW_MINUTES)
        return None
    if await identity.paused(turn):
        return Event.FAIL
    check = await call_checks.find(turn.session, turn.conversation_id)
    if call_checks.passed(check):
        await call_checks.finish(turn.session, turn.conversation_id)
        await completion.complete(turn)
        return Event.NEXT
    if check is None or call_checks.expired(check, turn.now):
        turn.say("call.expired")
    else:
        turn.say("call.pending")
    return None


async def _start_call(turn: Turn, phone: str) -> None:
    expires = turn.now + timedelta(minutes=CALL_WINDOW_MINUTES)
    await call_checks.start(
        turn.session,
        turn.conversation_id,
        phone_index(turn.services.vault, phone),
        turn.now,
        expires,
    )
    turn.slots["call"] = {
        "number": turn.services.issuer.verification_line,
        "phone": mask_phone(phone),
        "minutes": CALL_WINDOW_MINUTES,
    }


async def wallet(turn: Turn, answer: str) -> str:
    if answer == Button.WALLET_ADD:
        turn.say("wallet.add", card=turn.slots["card_masked"])
        return Event.NEXT
    turn.say("wallet.later")
    member = await members.linked(turn.session, turn.channel, turn.user_id)
    if member is not None:  # the member's menu keeps the offer
        member.wallet_later = True
    return Event.NEXT


async def closed(turn: Turn, answer: str) -> str:
    return RESTART


otp, pin = identity.steps(done=completion.complete)

HANDLERS = Handlers(
    ENROLLMENT,
    {
        State.CARD: card,
        State.EXPIRY: expiry,
        State.CODE: code,
        State.REREGISTER: reregister,
        State.PASSWORD: password,
        State.NETID: netid,
        State.REPEAT: repeat,
        State.EMAIL: email,
        State.NEWSLETTER: newsletter,
        State.TERMS: terms,
        State.CONFIRM: confirm,
        State.FIX: fix,
        State.OTP: otp,
        State.PIN: pin,
        State.CALL: call,
        State.WALLET: wallet,
        State.CLOSED: closed,
    },
)


async def _asks_for_figures(turn: Turn, answer: str) -> bool:
    """A question only a linked member gets answered (a statement, points), asked by a
    chat that is not linked."""
    if looks_like_card(answer) or question_in(answer, turn.today()) is None:
        return False
    return await members.linked(turn.session, turn.channel, turn.user_id) is None


def _email_locals(turn: Turn) -> list[str]:
    return [email["address"].rpartition("@")[0] for email in turn.slots.get("emails", [])]
