"""The engine: one member message in, replies out.

Per message: claim the channel's event id (a redelivery stops here), lock the
conversation row, run the step on a fresh Dialogue, and write state, slots and
the redacted transcript in the same transaction. SMS and mail go out after the
commit, so a rolled-back turn never sends anything.
"""

import asyncio
import copy
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from bot import dispatcher
from bot.handlers import HANDLERS
from bot.turn import Notification, Services, Turn
from flows.commands import Command, command_in
from flows.dialogue import Dialogue
from flows.enrollment import CLOSED, ENROLLING, START, STEPS, machine
from flows.messages import CATALOG, DEFAULT_LANG
from flows.problems import Invalid
from flows.prompts import prompt_params
from flows.redaction import redact
from flows.replies import Reply
from flows.text import fold
from storage import conversations, lockouts, message_counts
from storage.database import aware

IDLE_LIMIT = timedelta(minutes=30)
HISTORY_NOTICE = "card.kept_in_history"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    """A member's message as every channel delivers it."""

    channel: str
    user_id: str
    event_id: str
    text: str | None = field(default=None, repr=False)  # may be a card number or a password
    choice: str | None = None  # the data of a pressed button
    opened: bool = False  # the member opened the chat (LINE follow, terminal start)
    lang: str | None = None
    keeps_history: bool = False  # the channel cannot delete the member's messages (LINE)
    left: bool = False  # the member blocked or deleted the chat (LINE unfollow)
    unsent: bool = False  # the member took a message back (LINE unsend)


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    state: str = ""
    conversation_id: int = 0
    lang: str = DEFAULT_LANG
    secret_input: bool = False  # the message carried card data or a password: delete it
    duplicate: bool = False
    failed: bool = False  # rolled back; the replies are an apology to send directly


class Engine:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle(
        self, inbound: Inbound, *, deliver_to: Mapping[str, Any] | None = None
    ) -> Outcome:
        """``deliver_to`` is how the channel reaches this chat (e.g. a Telegram chat id);
        when given, the replies are queued in the outbox in the turn's transaction.

        Whatever fails inside the turn rolls it back whole (the event id included, so a
        redelivery is handled afresh) and the member gets an apology, never a trace. An
        unreachable database is raised instead: the channel answers 503 and redelivers."""
        try:
            outcome, notifications = await self._turn(inbound, deliver_to)
        except (OperationalError, InterfaceError):
            raise
        except Exception:
            logger.exception("turn failed channel=%s event=%s", inbound.channel, inbound.event_id)
            # The step is unknown now, so any text is treated as possibly secret.
            return Outcome(replies=[Reply("trouble")], failed=True, secret_input=bool(inbound.text))
        for note in notifications:
            try:
                if note.kind == "sms":
                    await self.services.sms.send_sms(note.to, note.text, outcome.conversation_id)
                else:
                    await self.services.mail.send_mail(note.to, note.text, outcome.conversation_id)
            except Exception:  # the member can ask for a new passcode; the turn stands
                logger.exception(
                    "%s delivery failed conversation=%s", note.kind, outcome.conversation_id
                )
        return outcome

    async def _turn(
        self, inbound: Inbound, deliver_to: Mapping[str, Any] | None
    ) -> tuple[Outcome, list[Notification]]:
        services = self.services
        now = services.clock()
        async with services.database.transaction() as session:
            fresh = await conversations.claim_event(session, inbound.channel, inbound.event_id, now)
            if not fresh:
                return Outcome(duplicate=True), []
            row, created = await conversations.lock(
                session,
                inbound.channel,
                inbound.user_id,
                state=START,
                lang=_language(inbound.lang),
                at=now,
            )
            if inbound.lang in CATALOG:
                row.lang = inbound.lang
            turn = Turn(
                services=services,
                session=session,
                dialogue=Dialogue(row.state, copy.deepcopy(row.slots)),
                conversation_id=row.id,
                channel=inbound.channel,
                user_id=inbound.user_id,
                lang=row.lang,
                now=now,
            )
            before = row.state
            throttled = False
            if inbound.left:
                _leave(turn)
            elif not inbound.unsent:  # an unsend is only recorded
                sent = await message_counts.count(
                    session, f"{inbound.channel}:{inbound.user_id}", now
                )
                throttled = sent > services.rate_limit
                if throttled:
                    if sent == services.rate_limit + 1:  # said once a minute, not every time
                        turn.say("slow_down")
                else:
                    idle = now - aware(row.updated_at)
                    await _step(turn, inbound, created=created, idle=idle)
                if inbound.keeps_history:
                    await _warn_history(turn)
            command = command_in(inbound.text) if inbound.text else None
            secret = turn.possibly_secret or (
                STEPS[before].secret is not None and inbound.text is not None and not command
            )
            _write_transcript(turn, inbound, before, secret, command, throttled)
            if deliver_to is not None:
                dispatcher.queue(
                    session,
                    conversation_id=row.id,
                    channel=inbound.channel,
                    user_id=inbound.user_id,
                    route=deliver_to,
                    replies=turn.replies,
                    lang=row.lang,
                    at=now,
                )
            row.state = turn.dialogue.state
            row.slots = turn.dialogue.slots
            row.updated_at = now
            logger.info("turn conversation=%s %s -> %s", row.id, before, row.state)
        outcome = Outcome(
            replies=turn.replies,
            state=row.state,
            conversation_id=row.id,
            lang=row.lang,
            secret_input=secret,
        )
        await asyncio.sleep(max(0.0, turn.answer_not_before - time.monotonic()))
        return outcome, turn.notifications


async def _step(turn: Turn, inbound: Inbound, *, created: bool, idle: timedelta) -> None:
    dialogue = turn.dialogue
    if created:
        turn.say("welcome")
        return _ask(turn)
    swept = dialogue.slots.get(conversations.EXPIRED)  # wiped by the idle sweep
    if swept or (dialogue.state in ENROLLING and dialogue.slots and idle > IDLE_LIMIT):
        machine.events["restart"].trigger(dialogue)
        turn.say("expired")
        return _ask(turn)
    if inbound.opened:
        if dialogue.state == CLOSED:  # back after an ending: as good as new
            machine.events["restart"].trigger(dialogue)
            turn.say("welcome")
        else:
            turn.say("welcome.back")
        return _ask(turn)
    command = command_in(inbound.text) if inbound.text else None
    if command is not None:
        return _command(turn, command)
    step = STEPS[dialogue.state]
    answer = _choice(turn, inbound)
    if answer is None and (not step.free_text or inbound.text is None):
        # Text where only buttons are understood may be anything, a PIN included.
        turn.redacted = f"⟨text:{len(inbound.text or '')}⟩"
        turn.possibly_secret = inbound.text is not None
        turn.say("choose.one" if step.choices else "unreadable")
        return _ask(turn)
    handler = HANDLERS[dialogue.state]
    try:
        event = await handler(turn, answer or inbound.text or "")
    except Invalid as invalid:
        # Refused input is kept as what was wrong with it, never as typed: a secret in
        # the wrong field is refused too.
        turn.redacted = turn.redacted or "⟨invalid:{}⟩".format(
            "+".join(problem.key for problem in invalid.problems)
        )
        for problem in invalid.problems:
            turn.replies.append(Reply(problem.key, problem.params))
        return _ask(turn)
    if event is not None:
        machine.events[event].trigger(dialogue)
    _ask(turn)


def _leave(turn: Turn) -> None:
    """An unfinished enrollment ends and its card data is wiped; nothing is said."""
    if turn.dialogue.state in ENROLLING:
        machine.events["cancel"].trigger(turn.dialogue)


async def _warn_history(turn: Turn) -> None:
    """The member's messages stay in the chat: before the conversation's first card
    question, say so once and suggest taking the number back afterwards."""
    prompt = STEPS[START].prompt
    at = next((i for i, reply in enumerate(turn.replies) if reply.key == prompt), None)
    if at is None or await conversations.said(
        turn.session, turn.conversation_id, HISTORY_NOTICE, state=START
    ):
        return
    turn.replies.insert(at, Reply(HISTORY_NOTICE))


def _command(turn: Turn, command: Command) -> None:
    dialogue = turn.dialogue
    if command is Command.HELP:
        turn.say(f"help.{dialogue.state}")
    elif command is Command.START:
        fresh = dialogue.state == START and not dialogue.slots
        machine.events["restart"].trigger(dialogue)
        turn.say("welcome" if fresh else "restarted")
    elif dialogue.state in ENROLLING:
        machine.events["cancel"].trigger(dialogue)
        turn.say("cancelled")
    else:
        turn.say("nothing_to_cancel")
    _ask(turn)


def _choice(turn: Turn, inbound: Inbound) -> str | None:
    """The data of the chosen button: pressed, or its label typed in any language."""
    choices = STEPS[turn.dialogue.state].choices
    if inbound.choice is not None:
        return inbound.choice if any(c.data == inbound.choice for c in choices) else None
    typed = fold(inbound.text or "").casefold()
    for choice in choices:
        labels = {catalog[choice.label].casefold() for catalog in CATALOG.values()}
        if typed == choice.data or typed in labels:
            return choice.data
    return None


def _ask(turn: Turn) -> None:
    state = turn.dialogue.state
    step = STEPS[state]
    params = prompt_params(state, turn.dialogue.slots)
    turn.replies.append(Reply(step.prompt, params, step.choices, sensitive=step.secret is not None))


def _write_transcript(
    turn: Turn,
    inbound: Inbound,
    before: str,
    secret: bool,
    command: Command | None,
    throttled: bool,
) -> None:
    if throttled:
        body: dict[str, object] = {"throttled": True}
    elif inbound.choice is not None:
        body = {"choice": inbound.choice}
    elif command is not None:
        body = {"command": command.value}
    elif inbound.text is not None:
        shown = turn.redacted or (f"⟨{STEPS[before].secret}⟩" if secret else redact(inbound.text))
        body = {"text": shown}
    elif inbound.left:
        body = {"left": True}
    elif inbound.unsent:
        body = {"unsent": True}
    elif inbound.opened:
        body = {"opened": True}
    else:  # a sticker, a photo or anything else without text
        body = {"unreadable": True}
    session, conversation = turn.session, turn.conversation_id
    conversations.append(
        session, conversation, at=turn.now, direction="in", state=before, body=body
    )
    for reply in turn.replies:
        conversations.append(
            session,
            conversation,
            at=turn.now,
            direction="out",
            state=turn.dialogue.state,
            body=reply.as_json(),
        )


def _language(lang: str | None) -> str:
    return lang if lang in CATALOG else DEFAULT_LANG


async def expire_idle(services: Services) -> int:
    """Wipe every unfinished enrollment idle for longer than IDLE_LIMIT, so card data
    does not outlive a member who walked away, and forget spent lockout counts (all
    run for 30 minutes, like IDLE_LIMIT); returns how many enrollments."""
    now = services.clock()
    async with services.database.transaction() as session:
        count = await conversations.expire_idle(
            session, states=ENROLLING, idle_since=now - IDLE_LIMIT, closed=CLOSED
        )
        await lockouts.prune(session, now, period=IDLE_LIMIT)
    if count:
        logger.info("expired %s idle enrollments", count)
    return count
