"""The engine: one member message in, replies out.

Per message: claim the channel's event id (a redelivery stops here), lock the
conversation row, run the step on a fresh Dialogue, and write state, slots and
the redacted transcript in the same transaction. SMS and mail go out after the
commit, so a rolled-back turn never sends anything.
"""

import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.handlers import HANDLERS
from bot.turn import Services, Turn
from flows.commands import Command, command_in
from flows.dialogue import Dialogue
from flows.enrollment import ENROLLING, START, STEPS, machine
from flows.messages import CATALOG, DEFAULT_LANG
from flows.problems import Invalid
from flows.prompts import prompt_params
from flows.redaction import redact
from flows.replies import Reply
from flows.text import fold
from storage import conversations

IDLE_LIMIT = timedelta(minutes=30)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    """A member's message as every channel delivers it."""

    channel: str
    user_id: str
    event_id: str
    text: str | None = None
    choice: str | None = None  # the data of a pressed button
    opened: bool = False  # the member opened the chat (LINE follow, terminal start)
    lang: str | None = None


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    state: str = ""
    conversation_id: int = 0
    lang: str = DEFAULT_LANG
    secret_input: bool = False  # the message carried card data or a password: delete it
    duplicate: bool = False


class Engine:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle(self, inbound: Inbound) -> Outcome:
        services = self.services
        now = services.clock()
        async with services.database.transaction() as session:
            fresh = await conversations.claim_event(session, inbound.channel, inbound.event_id, now)
            if not fresh:
                return Outcome(duplicate=True)
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
            idle = now - _aware(row.updated_at, now)
            await _step(turn, inbound, created=created, idle=idle)
            command = command_in(inbound.text) if inbound.text else None
            secret = STEPS[before].secret is not None and inbound.text is not None and not command
            _write_transcript(turn, inbound, before, secret, command)
            row.state = turn.dialogue.state
            row.slots = turn.dialogue.slots
            row.updated_at = now
            logger.info("turn conversation=%s %s -> %s", row.id, before, row.state)
        for note in turn.notifications:
            if note.kind == "sms":
                await services.sms.send_sms(note.to, note.text, row.id)
            else:
                await services.mail.send_mail(note.to, note.text, row.id)
        return Outcome(
            replies=turn.replies,
            state=row.state,
            conversation_id=row.id,
            lang=row.lang,
            secret_input=secret,
        )


async def _step(turn: Turn, inbound: Inbound, *, created: bool, idle: timedelta) -> None:
    dialogue = turn.dialogue
    if created:
        turn.say("welcome")
        return _ask(turn)
    if dialogue.state in ENROLLING and dialogue.slots and idle > IDLE_LIMIT:
        machine.events["restart"].trigger(dialogue)
        turn.say("expired")
        return _ask(turn)
    if inbound.opened:
        turn.say("welcome.back")
        return _ask(turn)
    command = command_in(inbound.text) if inbound.text else None
    if command is not None:
        return _command(turn, command)
    step = STEPS[dialogue.state]
    answer = _choice(turn, inbound)
    if answer is None and (not step.free_text or inbound.text is None):
        turn.say("choose.one" if step.choices else "unreadable")
        return _ask(turn)
    handler = HANDLERS[dialogue.state]
    try:
        event = await handler(turn, answer or inbound.text or "")
    except Invalid as invalid:
        for problem in invalid.problems:
            turn.replies.append(Reply(problem.key, problem.params))
        return _ask(turn)
    if event is not None:
        machine.events[event].trigger(dialogue)
    _ask(turn)


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
    turn: Turn, inbound: Inbound, before: str, secret: bool, command: Command | None
) -> None:
    if inbound.choice is not None:
        body: dict[str, object] = {"choice": inbound.choice}
    elif command is not None:
        body = {"command": command.value}
    elif inbound.text is not None:
        shown = turn.redacted or (f"⟨{STEPS[before].secret}⟩" if secret else redact(inbound.text))
        body = {"text": shown}
    else:
        body = {"opened": True}
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


def _aware(moment: datetime, now: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)
