"""The sign-in flow's handlers: a member with a Net Answer ID proves it (ID and
password, then a passcode to the phone the issuer holds) and this chat is linked.

An unknown ID and a wrong password are answered alike, after the same work (a password
hash is checked either way), and counted alike: five failures for one ID, from any
chat, or ten from one chat, pause sign-in for 30 minutes.

Where the chat app links accounts itself (LINE) and the server has a public address,
choosing sign-in first offers the sign-in page (``bot/signin_page.py``), which runs
the same checks (:func:`authenticate`, :func:`challenge`, the passcode step) and
ends at the platform's account-link dialog with a single-use nonce; only the
platform's event bringing that nonce back, fresh and for this chat, links it
(:func:`account_linked`).
"""

import asyncio
import functools
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from argon2 import PasswordHasher

from bot import identity, passcodes
from bot.handlers import Handlers
from bot.turn import Turn
from flows.flow import RESTART
from flows.netids import looks_like_password
from flows.signin import SIGNIN, Button, Event, State
from flows.text import fold
from storage import account_links, lockouts, members
from storage.database import aware
from storage.models import Member
from storage.vault import CARD_PURPOSE, Vault

ID_LIMIT = 5  # failures for one ID, from any chat
CHAT_LIMIT = 10  # failures from one chat, whatever the IDs
LOCK_FOR = timedelta(minutes=30)
CODES_LIMIT = 5  # passcodes sign-ins send one card within LOCK_FOR
#: How long LINE honours a link token, and so how long the sign-in page works.
LINK_TOKEN_LIFETIME = timedelta(minutes=10)
#: How long a nonce waits for the platform's account-link event.
NONCE_LIFETIME = timedelta(minutes=10)
#: Where the sign-in page is served (``bot/signin_page.py``).
PAGE_PATH = "/signin/line"
_ID_PURPOSE = "net-answer-id"
#: The ID typed at the ID step, kept sealed until the password is checked.
_TYPED = "netid_token"
_TYPED_PURPOSE = "signin-id"
TOKEN_PURPOSE = "link-token"  # noqa: S105 (a vault purpose)
NONCE_PURPOSE = "link-nonce"

logger = logging.getLogger(__name__)


@functools.cache
def _stand_in_hash() -> str:
    """Checked when the ID is unknown, so an unknown ID costs what a wrong password costs."""
    return PasswordHasher().hash(secrets.token_urlsafe())


async def netid(turn: Turn, answer: str) -> str | None:
    if answer in (Button.FORGOT, Button.ENROLL):
        return _forgotten(turn, answer)
    typed = fold(answer)
    if looks_like_password(answer):  # refused unrepeated, deleted like a password
        turn.redacted, turn.possibly_secret = "⟨invalid:netid.password⟩", True
        turn.say("netid.password")
        return None
    if not 0 < len(typed) <= 64 or any(char.isspace() for char in typed):
        turn.redacted = "⟨netid:format⟩"
        turn.say("signin.id_format")
        return None
    # Sealed, and recorded as a placeholder: an ID of letters and digits may as well be
    # the password, typed too soon or arriving before the ID.
    turn.redacted = "⟨netid:unchecked⟩"
    turn.slots["netid_token"] = turn.services.vault.encrypt(typed, _TYPED_PURPOSE)
    return Event.NEXT


async def password(turn: Turn, answer: str) -> str | None:
    if answer in (Button.FORGOT, Button.ENROLL):
        return _forgotten(turn, answer)
    if not await authenticate(turn, answer):
        return _again(turn)
    return Event.NEXT if await challenge(turn) else Event.FAIL


async def authenticate(turn: Turn, typed: str) -> bool:
    """Check the password typed for the ID in the slots. Right: the member's card is
    kept for the passcode. Otherwise the member is told (a failure the same whether
    the ID is unknown or the password wrong, or the pause and its end) and it counts
    against the ID and the chat."""
    turn.redacted = "⟨password:unchecked⟩"
    net_answer_id = _typed_id(turn)
    limits = _limits(turn, net_answer_id)
    session, now = turn.session, turn.now
    paused = [until for s in sorted(limits) if (until := await lockouts.hold(session, s, now))]
    if paused:
        turn.say("signin.locked", until=turn.local_time(max(paused)))
        return False
    member = await _member(turn, net_answer_id, typed)
    if member is None:
        turn.redacted = "⟨password:refused⟩"
        # One order everywhere: concurrent sign-ins never deadlock on the lockout rows.
        locks = [
            await lockouts.fail(session, s, now, limit=limits[s], period=LOCK_FOR)
            for s in sorted(limits)
        ]
        if any(locks):
            turn.say("signin.locked", until=turn.local_time(max(u for u in locks if u)))
        else:
            turn.say("signin.failed")
        return False
    turn.redacted = "⟨password:accepted⟩"
    await lockouts.clear(session, _id_subject(turn, net_answer_id), now)
    turn.slots.pop(_TYPED, None)  # the member's card is all the passcode needs
    _keep(turn, member)
    return True


async def challenge(turn: Turn) -> bool:
    """Send a passcode for the member whose card the slots hold; False (the member is
    told why) while the card is paused, when the issuer has no way to reach them, or
    when sign-ins sent it :data:`CODES_LIMIT` passcodes lately: the count is kept per
    card in the database, so neither /start nor an old linked chat's re-check can make
    the member's phone ring without end."""
    if await identity.paused(turn):
        return False
    mailable = await passcodes.mailable(turn)
    if not (await turn.holder()).mobile and not mailable:
        turn.say("signin.no_mobile", number=turn.services.issuer.verification_line)
        return False
    sent = f"signin-codes:{turn.slots['card_index']}"
    until = await lockouts.hold(turn.session, sent, turn.now)
    if until is None:
        until = await lockouts.fail(
            turn.session, sent, turn.now, limit=CODES_LIMIT + 1, period=LOCK_FOR
        )
        if until is None:
            await passcodes.send(turn)
            return True
    turn.say("signin.codes_paused", until=turn.local_time(until))
    return False


def _keep(turn: Turn, member: Member) -> None:
    turn.slots.update(
        member_id=member.id,
        card_token=member.card_token,
        card_index=member.card_index,
        card_masked=member.card_masked,
    )


async def _member(turn: Turn, net_answer_id: str, typed: str) -> Member | None:
    """The member with this ID and password: one who registered through this bot is
    checked here, anyone else by the issuer. None for an unknown ID or a wrong password.
    Every path does the same work (an argon2 check and a question to the issuer), so
    how long the answer takes tells nothing about the ID."""
    vault = turn.services.vault
    member = await members.by_net_answer_id(turn.session, net_answer_id)
    kept_here = member is not None and bool(member.password_hash)
    if member is not None and kept_here:
        right = turn.verified(member.password_hash, typed)
    else:
        right = turn.outside(("stand-in", typed), lambda: _check_stand_in(vault, typed))
    card = await turn.services.issuer.sign_in(net_answer_id, typed)
    if kept_here:
        return member if right else None
    if card is None:
        return None
    return await members.add_known(
        turn.session,
        at=turn.now,
        net_answer_id=net_answer_id,
        card_token=vault.encrypt(card.digits, CARD_PURPOSE),
        card_index=vault.index(card.digits, CARD_PURPOSE),
        card_masked=card.masked,
        emails={"addresses": []},
        newsletter=False,
        terms_version="issuer",
        terms_agreed_at=turn.now,
    )


async def _check_stand_in(vault: Vault, typed: str) -> bool:
    return await vault.verify_password(await asyncio.to_thread(_stand_in_hash), typed)


async def closed(turn: Turn, answer: str) -> str:
    return RESTART


async def page(turn: Turn, answer: str) -> str | None:
    if answer in (Button.FORGOT, Button.ENROLL):
        return _forgotten(turn, answer)
    turn.slots.pop("page", None)  # the chat sign-in instead; the link token lapses
    return Event.CHAT


async def _enter(turn: Turn) -> None:
    """A linked member back after 90 days proves the link with a passcode only; anyone
    else is offered the sign-in page where the chat app links accounts itself."""
    if "member_id" in turn.slots:
        await _recheck(turn)
    else:
        await _offer_page(turn)


async def _recheck(turn: Turn) -> None:
    member = await turn.session.get(Member, turn.slots["member_id"])
    if member is None:  # gone since: an ordinary sign-in
        turn.slots.clear()
        return
    _keep(turn, member)
    if await challenge(turn):
        turn.say("member.recheck")
        turn.flow.trigger(Event.RECHECK, turn.dialogue)
    else:
        turn.flow.trigger(Event.FAIL, turn.dialogue)


async def _offer_page(turn: Turn) -> None:
    """Ask the platform for a link token and offer the sign-in page carrying it. If
    the platform does not answer, the sign-in goes on in the chat."""
    services = turn.services
    issue = services.link_tokens.get(turn.channel)
    if issue is None or services.public_url is None:
        return
    try:
        token = await issue(turn.user_id)
    except Exception as error:  # LINE away or refusing: the chat sign-in still works
        logger.warning("link token not issued: %s", type(error).__name__)
        return
    index = services.vault.index(token, TOKEN_PURPOSE)
    account_links.issued(turn.session, turn.channel, turn.user_id, index, turn.now)
    address = f"{services.public_url}{PAGE_PATH}?{urlencode({'linkToken': token})}"
    turn.slots["page"] = address
    if turn.dialogue.state == State.NETID:  # a failed link offered again stays there
        turn.flow.trigger(Event.PAGE, turn.dialogue)


async def account_linked(turn: Turn, nonce: str | None) -> None:
    """The platform's account-link event: with a nonce the sign-in page made, unused,
    made less than :data:`NONCE_LIFETIME` ago and for this very chat, the chat is linked
    and the conversation moves to the member flow. Anything else links nothing and the
    member is asked to try again. A nonce is spent whatever the outcome."""
    session, now = turn.session, turn.now
    run = None
    if nonce:
        run = await account_links.by_nonce(session, turn.services.vault.index(nonce, NONCE_PURPOSE))
    usable = (
        run is not None
        and run.used_at is None
        and run.member_id is not None
        and run.nonce_at is not None
        and now - aware(run.nonce_at) <= NONCE_LIFETIME
        and (run.channel, run.user_id) == (turn.channel, turn.user_id)
    )
    if run is not None and run.used_at is None:
        run.used_at = now
    member = await session.get(Member, run.member_id) if usable and run and run.member_id else None
    if member is None:
        logger.info("account link refused conversation=%s", turn.conversation_id)
        turn.say("signin.link_failed")
        if turn.flow is SIGNIN and turn.dialogue.state == State.PAGE:
            await _offer_page(turn)
        return
    await members.link(session, turn.channel, turn.user_id, member, now)
    turn.say("signin.linked", netid=member.net_answer_id)
    turn.flow = SIGNIN
    turn.dialogue = SIGNIN.model(State.LINKED, {})


async def _link(turn: Turn) -> None:
    """The identity is proven: link this chat, say what passes through it from now on,
    and keep only what the member flow shows."""
    member = await members.by_card(turn.session, turn.slots["card_index"])
    if member is None:
        raise LookupError("the signed-in member is gone")
    await members.link(turn.session, turn.channel, turn.user_id, member, turn.now)
    turn.say("signin.linked", netid=member.net_answer_id)
    turn.slots.clear()


def _forgotten(turn: Turn, answer: str) -> str | None:
    """The issuer's way to recover an ID or password; registering again is the last resort."""
    if answer == Button.FORGOT:
        turn.say("signin.forgot")
        return None
    turn.slots.clear()
    return Event.ENROLL


def _again(turn: Turn) -> str:
    turn.slots.pop(_TYPED, None)
    return Event.BACK


def _typed_id(turn: Turn) -> str:
    """The ID typed at the ID step, unsealed."""
    return turn.services.vault.decrypt(turn.slots[_TYPED], _TYPED_PURPOSE)


def _id_subject(turn: Turn, net_answer_id: str) -> str:
    """The ID's failure count, whatever case it was typed in: changing the case of an
    ID does not buy five more guesses."""
    index = turn.services.vault.index(net_answer_id.casefold(), _ID_PURPOSE)
    return f"signin:id:{index}"


def _limits(turn: Turn, net_answer_id: str) -> dict[str, int]:
    """The failure counts a sign-in adds to, and the limit of each."""
    return {
        _id_subject(turn, net_answer_id): ID_LIMIT,
        f"signin:chat:{turn.channel}:{turn.user_id}": CHAT_LIMIT,
    }


otp, pin = identity.steps(done=_link)

HANDLERS = Handlers(
    SIGNIN,
    {
        State.PAGE: page,
        State.NETID: netid,
        State.PASSWORD: password,
        State.OTP: otp,
        State.PIN: pin,
        State.CLOSED: closed,
    },
    enter=_enter,
    linked=account_linked,
)
