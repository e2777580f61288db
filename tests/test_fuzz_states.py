# ruff: noqa: F811 (the channel fixtures are imported by name, and tests take them by name)
"""Property-based fuzzing of every state of every flow (issue 12): whatever a member
sends in any state, the bot answers without failing, the conversation stays in a state
its flow declares with slots of the declared types, and no demo secret comes back in a
reply, a transcript row or a log line.

The states are read from the flows the application runs (bot/registry.py), so a new
state is fuzzed as soon as it exists (and :func:`tests.enroll.walk_to` must learn the
way there). Each test walks one conversation to its state once, then puts it back
exactly there before every example: the conversation row, the chat's links, the
failure counts and call checks.
"""

import copy
import functools
import logging
import re
from dataclasses import dataclass
from typing import Any, get_args, get_origin, get_type_hints

import pytest
from argon2 import PasswordHasher
from hypothesis import example, given
from sqlalchemy import delete, func, insert, select, update
from starlette.applications import Starlette

from bot import signin
from bot.registry import FLOWS
from bot.runtime import Runtime
from storage import vault
from storage.models import CallCheck, ChatIdentity, Conversation, Lockout, TranscriptEntry
from tests.channels.conftest import (  # noqa: F401 (fixtures)
    line_app,
    line_runtime,
    line_settings,
    line_stand_in,
)
from tests.conftest import Chat
from tests.enroll import walk_to
from tests.fuzz import CARD_NUMBERS, MESSAGES, SHORT_SECRETS, fuzzing
from tests.test_secrets import _pattern

STATES = [(flow.name, state) for flow in FLOWS for state in flow.steps]
_FLOWS = {flow.name: flow for flow in FLOWS}
#: The conversation row's columns a turn may change (all but who and since when).
_ROW = [
    column.key
    for column in Conversation.__table__.columns
    if column.key not in ("id", "channel", "user_id", "started_at")
]
#: What a turn may change beside the conversation row, put back before every example.
_TABLES = (ChatIdentity.__table__, Lockout.__table__, CallCheck.__table__)


@dataclass
class Reached:
    """A conversation walked to one state, and how to put it back there."""

    chat: Chat
    row: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]
    conversation_id: int

    def __repr__(self) -> str:  # what a failing example names
        return f"Reached({self.row['flow']}:{self.row['state']})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))

    async def restore(self) -> None:
        database = self.chat.bot.database
        async with database.transaction() as session:
            await session.execute(
                update(Conversation)
                .where(Conversation.id == self.conversation_id)
                .values(**copy.deepcopy(self.row))
            )
            for table in _TABLES:
                await session.execute(delete(table))
                if self.tables[table.name]:
                    await session.execute(insert(table), copy.deepcopy(self.tables[table.name]))


async def _reach(bot: Runtime, state: str) -> Reached:
    if state == "signin_page":  # LINE issues link tokens for its own user ids only
        chat = Chat(bot, user="U" + "4af4980629e7c3a2b1d0f5e6a7b8c9d0", channel="line")
    else:
        chat = Chat(bot)
    await walk_to(chat, state)
    async with bot.database.transaction() as session:
        row = await session.scalar(select(Conversation).where(Conversation.user_id == chat.user))
        assert row is not None
        kept = {name: copy.deepcopy(getattr(row, name)) for name in _ROW}
        tables = {
            table.name: [dict(found) for found in (await session.execute(select(table))).mappings()]
            for table in _TABLES
        }
        return Reached(chat, kept, tables, row.id)


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at a test cost (0.2 s of CPU per password message at the real one): the
    fuzz is about what the bot does with the input, which is hashed all the same."""
    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(vault, "_hasher", cheap)
    monkeypatch.setattr(signin, "_stand_in_hash", functools.cache(lambda: cheap.hash("x")))


@pytest.fixture
async def reached(
    request: pytest.FixtureRequest, cheap_hashing: None, line_runtime: Runtime, line_app: Starlette
) -> Reached:
    """A bot serving LINE with its account linking (where ``signin_page`` is), walked
    to the state ``request.param``."""
    return await _reach(line_runtime, request.param)


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a slot's value has its declared type (containers by their outer type)."""
    if hint is Any:
        return True
    origin = get_origin(hint) or hint
    if origin is list:
        (item,) = get_args(hint) or (Any,)
        return isinstance(value, list) and all(_conforms(each, item) for each in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(key, str) for key in value)
    return isinstance(value, origin)


async def _after(reached: Reached, since: int) -> tuple[Conversation, list[TranscriptEntry]]:
    async with reached.chat.bot.database.transaction() as session:
        row = await session.get(Conversation, reached.conversation_id)
        assert row is not None
        entries = await session.scalars(
            select(TranscriptEntry)
            .where(TranscriptEntry.conversation_id == reached.conversation_id)
            .where(TranscriptEntry.id > since)
        )
        return row, list(entries)


async def _last_entry(reached: Reached) -> int:
    async with reached.chat.bot.database.transaction() as session:
        return await session.scalar(select(func.coalesce(func.max(TranscriptEntry.id), 0))) or 0


async def _check_one(
    reached: Reached, caplog: pytest.LogCaptureFixture, kind: str, value: str
) -> None:
    await reached.restore()
    chat = reached.chat
    since, logged = await _last_entry(reached), len(caplog.records)
    state_before = reached.row["state"]
    asked = _FLOWS[reached.row["flow"]].steps[state_before]
    outcome = await (chat.send(value) if kind == "text" else chat.send(choice=value))

    assert not outcome.failed, chat.keys
    assert outcome.replies and all(chat.texts), chat.keys
    row, entries = await _after(reached, since)
    flow = _FLOWS[row.flow]
    assert row.state in flow.steps, (row.flow, row.state)
    assert outcome.state == row.state
    hints = get_type_hints(flow.slots)
    for name, slot in row.slots.items():
        assert name in hints and _conforms(slot, hints[name]), (row.flow, name, slot)
    records = caplog.records[logged:]
    assert not [r for r in records if r.levelno >= logging.ERROR or r.exc_info], [
        r.getMessage()[:200] for r in records
    ]

    # The secrets: card numbers never, anywhere; the short ones (codes, PINs, passwords)
    # unless the member typed one where any text is kept as written (a question, say).
    secrets = list(CARD_NUMBERS)
    typed_as_secret = kind == "text" and asked.secret is not None
    secrets += [s for s in SHORT_SECRETS if typed_as_secret or s not in value]
    places = {
        "replies": "\n".join(chat.texts),
        "transcript": "\n".join(repr(entry.body) for entry in entries),
        "logs": "\n".join(record.getMessage() for record in records),
    }
    # Nothing a member types is logged (a long text could be anything, a secret too).
    if kind == "text" and len(value.strip()) >= 12:
        # Less the engine's own line per turn, whose words a generated text may repeat.
        logged = re.sub(r"turn conversation=\d+ \S+ -> \S+", "", places["logs"])
        assert value.strip() not in logged
    for place, content in places.items():
        # A masked phone shows its last four digits by design (a PIN may be the same).
        content = re.sub(r"\*+[0-9]+", "*", content)
        content = re.sub(r"\.\.\. \d+ characters truncated \.\.\.", "...", content)
        for secret in secrets:
            assert not _pattern(secret).search(content.encode("utf-8", "replace")), (
                secret,
                place,
            )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "reached", [state for _, state in STATES], indirect=True, ids=[f"{f}:{s}" for f, s in STATES]
)
@fuzzing(30)
@given(message=MESSAGES)
@example(message=("text", "conversation"))  # a word of the engine's own log line
async def test_every_state_answers_anything(
    reached: Reached, caplog: pytest.LogCaptureFixture, message: tuple[str, str]
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    await _check_one(reached, caplog, *message)


#: Where what a member types may be kept (redacted, in the transcript or the slots)
#: rather than replaced by a placeholder: what PostgreSQL may refuse to store.
KEPT_AS_TYPED = [
    (flow.name, state)
    for flow in FLOWS
    for state, step in flow.steps.items()
    if step.free_text and step.secret is None
]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    "reached",
    [state for _, state in KEPT_AS_TYPED],
    indirect=True,
    ids=[f"{f}:{s}" for f, s in KEPT_AS_TYPED],
)
@fuzzing(15)
@example(message=("text", "\x00"))
@example(message=("text", "hanako\x00@example.com"))
@example(message=("text", "\ud800"))
@example(message=("choice", "\x00"))
@example(message=("text", "ｘ" * 100_000))
@given(message=MESSAGES)
async def test_states_keeping_text_answer_anything_on_postgresql(
    reached: Reached, caplog: pytest.LogCaptureFixture, message: tuple[str, str]
) -> None:
    """A smaller sample on PostgreSQL, which refuses some of what SQLite stores."""
    caplog.set_level(logging.INFO)
    await _check_one(reached, caplog, *message)
