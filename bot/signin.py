"""The sign-in flow's handlers: a member with a Net Answer ID proves it (ID and
password, then a passcode to the phone the issuer holds) and this chat is linked.

An unknown ID and a wrong password are answered alike, after the same work (a password
hash is checked either way), and counted alike: five failures for one ID, from any
chat, or ten from one chat, pause sign-in for 30 minutes.
"""

import asyncio
import functools
import secrets
from datetime import timedelta

from argon2 import PasswordHasher

from bot import identity, passcodes
from bot.handlers import Handlers
from bot.turn import Turn
from flows.flow import RESTART
from flows.signin import SIGNIN, Button, Event, State
from flows.text import fold
from storage import lockouts, members
from storage.models import Member
from storage.vault import CARD_PURPOSE

ID_LIMIT = 5  # failures for one ID, from any chat
CHAT_LIMIT = 10  # failures from one chat, whatever the IDs
LOCK_FOR = timedelta(minutes=30)
_ID_PURPOSE = "net-answer-id"


@functools.cache
def _stand_in_hash() -> str:
    """Checked when the ID is unknown, so an unknown ID costs what a wrong password costs."""
    return PasswordHasher().hash(secrets.token_urlsafe())


async def netid(turn: Turn, answer: str) -> str | None:
    if answer in (Button.FORGOT, Button.ENROLL):
        return _forgotten(turn, answer)
    typed = fold(answer)
    if not 0 < len(typed) <= 64 or any(char.isspace() for char in typed):
        turn.say("signin.id_format")
        return None
    turn.slots["netid"] = typed
    return Event.NEXT


async def password(turn: Turn, answer: str) -> str | None:
    if answer in (Button.FORGOT, Button.ENROLL):
        return _forgotten(turn, answer)
    turn.redacted = "⟨password:unchecked⟩"
    limits = _limits(turn)
    session, now = turn.session, turn.now
    paused = [until for s in sorted(limits) if (until := await lockouts.hold(session, s, now))]
    if paused:
        turn.say("signin.locked", until=turn.local_time(max(paused)))
        return _again(turn)
    member = await _member(turn, turn.slots["netid"], answer)
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
        return _again(turn)
    turn.redacted = "⟨password:accepted⟩"
    await lockouts.clear(session, _id_subject(turn), now)
    turn.slots.update(
        member_id=member.id,
        netid=member.net_answer_id,
        card_token=member.card_token,
        card_index=member.card_index,
        card_masked=member.card_masked,
    )
    if await identity.paused(turn):
        return Event.FAIL
    mailable = await passcodes.mailable(turn)
    if not (await turn.holder()).mobile and not mailable:
        turn.say("signin.no_mobile", number=turn.services.issuer.verification_line)
        return Event.FAIL
    await passcodes.send(turn)
    return Event.NEXT


async def _member(turn: Turn, net_answer_id: str, typed: str) -> Member | None:
    """The member with this ID and password: one who registered through this bot is
    checked here, anyone else by the issuer. None for an unknown ID or a wrong password."""
    vault = turn.services.vault
    member = await members.by_net_answer_id(turn.session, net_answer_id)
    kept_here = member is not None and bool(member.password_hash)
    if member is not None and kept_here:
        right = await vault.verify_password(member.password_hash, typed)
    else:
        right = await vault.verify_password(await asyncio.to_thread(_stand_in_hash), typed)
    if kept_here:
        return member if right else None
    card = await turn.services.issuer.sign_in(net_answer_id, typed)
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


async def closed(turn: Turn, answer: str) -> str:
    return RESTART


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
    turn.slots.pop("netid", None)
    return Event.BACK


def _id_subject(turn: Turn) -> str:
    index = turn.services.vault.index(turn.slots["netid"], _ID_PURPOSE)
    return f"signin:id:{index}"


def _limits(turn: Turn) -> dict[str, int]:
    """The failure counts a sign-in adds to, and the limit of each."""
    return {_id_subject(turn): ID_LIMIT, f"signin:chat:{turn.channel}:{turn.user_id}": CHAT_LIMIT}


otp, pin = identity.steps(done=_link)

HANDLERS = Handlers(
    SIGNIN,
    {
        State.NETID: netid,
        State.PASSWORD: password,
        State.OTP: otp,
        State.PIN: pin,
        State.CLOSED: closed,
    },
)
