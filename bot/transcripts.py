"""Transcripts for support agents: each conversation's outcome, its timeline and its
export, read from the redacted rows the engine records (``storage/transcripts.py``).

Outcomes, from where the last recorded turn left the conversation:

- ``completed``: past the end of enrollment (the wallet offer, or the member flow).
- ``locked``: in ``closed``, and the turn that closed it said the card is paused
  (5 wrong passcodes or PINs, 5 failed card checks, or a card already paused).
- ``cancelled``: in ``closed`` for any other reason: /cancel, declined terms, chose not
  to register again, a card the issuer refuses here (corporate, Club-On / Millennium).
- ``abandoned``: left unfinished: idle past the flow's limit (30 minutes; its data is
  wiped), or the member left the chat (LINE unfollow or block) while unfinished.
- ``in_progress``: unfinished, and the last event is within the idle limit.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from bot.handlers import Flows
from flows.messages import render
from flows.replies import Reply
from storage import conversations
from storage import transcripts as rows
from storage.database import Database, aware
from storage.models import TranscriptEntry

JAPAN = timezone(timedelta(hours=9), "JST")
#: What the bot says when a card's checks or identity check are paused.
_LOCKED_KEYS = frozenset({"identity.locked", "checks.locked"})


class Outcome(StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    LOCKED = "locked"
    ABANDONED = "abandoned"
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True)
class Listed:
    id: int
    channel: str
    chat_user: str | None
    started: datetime
    last_at: datetime
    last_state: str
    outcome: Outcome
    lang: str  # the conversation's language: its replies are shown in it

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "chat_user": self.chat_user,
            "started": self.started.isoformat(),
            "last_at": self.last_at.isoformat(),
            "last_state": self.last_state,
            "outcome": self.outcome.value,
            "lang": self.lang,
        }


async def listing(
    database: Database,
    flows: Flows,
    now: datetime,
    *,
    channel: str | None = None,
    since: datetime | None = None,
    state: str | None = None,
    outcome: Outcome | None = None,
    net_answer_id: str | None = None,
    conversation_id: int | None = None,
) -> list[Listed]:
    """The recorded conversations, oldest first, with the filters applied."""
    async with database.transaction() as session:
        found = await rows.summaries(
            session,
            channel=channel,
            since=since,
            net_answer_id=net_answer_id,
            conversation_id=conversation_id,
        )
        listed = []
        for summary in found:
            if state is not None and summary.last_state != state:
                continue
            closing: list[TranscriptEntry] = []
            if summary.last_state == flows.entry.closed:
                closing = _closing_turn(await rows.entries(session, summary.id), summary.last_state)
            ended = _outcome(summary, closing, flows, now)
            if outcome is None or ended is outcome:
                listed.append(
                    Listed(
                        id=summary.id,
                        channel=summary.channel,
                        chat_user=summary.chat_user,
                        started=summary.started,
                        last_at=summary.last_at,
                        last_state=summary.last_state,
                        outcome=ended,
                        lang=summary.lang,
                    )
                )
    return listed


def _outcome(
    summary: rows.Summary, closing: Sequence[TranscriptEntry], flows: Flows, now: datetime
) -> Outcome:
    entry = flows.entry
    if summary.current_state == entry.closed and summary.current_slots.get(conversations.EXPIRED):
        return Outcome.ABANDONED  # wiped by the idle sweep, which records no turn
    if summary.last_state == entry.closed:
        if any(row.body.get("key") in _LOCKED_KEYS for row in closing):
            return Outcome.LOCKED
        if closing and closing[0].body.get("left"):
            return Outcome.ABANDONED
        return Outcome.CANCELLED
    if summary.last_state in entry.unfinished:
        idle = entry.idle_limit
        if idle is not None and now - summary.last_at > idle:
            return Outcome.ABANDONED
        return Outcome.IN_PROGRESS
    return Outcome.COMPLETED


def _closing_turn(entries: Sequence[TranscriptEntry], closed: str) -> list[TranscriptEntry]:
    """The rows of the last turn that moved the conversation into ``closed``."""
    start = None
    for index, row in enumerate(entries):
        if row.direction == "in" and row.state_after == closed and row.state_before != closed:
            start = index
    if start is None:
        return []
    end = next(
        (i for i in range(start + 1, len(entries)) if entries[i].direction == "in"), len(entries)
    )
    return list(entries[start:end])


@dataclass(frozen=True)
class Step:
    """One recorded turn: the member's event and the bot's replies."""

    at: datetime
    flow: str | None
    flow_version: str | None
    state_before: str | None
    state_after: str | None
    event: dict[str, Any]
    replies: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "flow": self.flow,
            "flow_version": self.flow_version,
            "state_before": self.state_before,
            "state_after": self.state_after,
            "in": self.event,
            "out": self.replies,
        }


async def steps(database: Database, conversation_id: int, lang: str) -> list[Step]:
    """The conversation's turns in order, each reply with its text in ``lang``."""
    async with database.transaction() as session:
        entries = await rows.entries(session, conversation_id)
    found: list[Step] = []
    for row in entries:
        if row.direction == "in" or not found:
            found.append(
                Step(
                    at=aware(row.at),
                    flow=row.flow,
                    flow_version=row.flow_version,
                    state_before=row.state_before,
                    state_after=row.state_after,
                    event=dict(row.body) if row.direction == "in" else {},
                    replies=[],
                )
            )
        if row.direction == "out":
            found[-1].replies.append({**row.body, "text": reply_text(row.body, lang)})
    return found


async def purge(database: Database, *, before: datetime) -> int:
    """Delete the rows recorded before ``before``; returns how many."""
    async with database.transaction() as session:
        return await rows.purge(session, before=before)


def reply_text(body: dict[str, Any], lang: str) -> str:
    """A recorded reply as the member read it, placeholders where the record has them."""
    return render(Reply(body["key"], body.get("params", {})), lang)


def event_text(event: dict[str, Any]) -> str:
    """The member's recorded event in a line."""
    if "text" in event:
        return str(event["text"]) + (" (secure entry page)" if event.get("entry") else "")
    if "choice" in event:
        return f"[{event['choice']}]"
    if "command" in event:
        return f"/{event['command']}"
    return f"({next(iter(event), 'nothing')})"


def export_lines(
    steps_: Sequence[Step], *, channel: str | None = None, lang: str | None = None
) -> list[dict[str, Any]]:
    """The JSON Lines export: the member's events and the bot's replies, in order; with
    the conversation's channel and language on each row when given (replay reads them)."""
    lines: list[dict[str, Any]] = []
    about = {name: value for name, value in (("channel", channel), ("lang", lang)) if value}
    for step in steps_:
        where = {
            "at": step.at.isoformat(),
            "flow": step.flow,
            "flow_version": step.flow_version,
            "state_before": step.state_before,
            "state_after": step.state_after,
            **about,
        }
        if step.event:
            lines.append({"direction": "in", **_exported_event(step.event), **where})
        for reply in step.replies:
            lines.append(
                {
                    "direction": "out",
                    "text": reply["text"],
                    "key": reply["key"],
                    "params": reply.get("params", {}),
                    "choices": reply.get("choices", []),
                    **where,
                }
            )
    return lines


def _exported_event(event: dict[str, Any]) -> dict[str, Any]:
    if "choice" in event:
        return {"choice": event["choice"]}
    if "text" in event:  # typed in the chat, or into the secure-entry page ("entry")
        page = {name: event[name] for name in ("entry", "entry_next") if event.get(name)}
        return {"text": event["text"], **page}
    if "command" in event:
        return {"text": f"/{event['command']}"}
    return {"text": None, "event": next(iter(event), "unreadable")}
