"""Transcripts: what is recorded of every turn, and what support agents read of it."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import select

from adapters.channels.channel import Inbound, Kind
from bot.config import ConfigError, Settings
from bot.registry import FLOWS
from bot.runtime import Runtime
from flows import messages
from flows.redaction import redact
from storage import conversations, members, schema
from storage.database import aware, sync_url
from storage.models import TranscriptEntry
from tests.conftest import Chat, Clock
from tests.enroll import (
    AMEX,
    DINERS,
    JCB,
    MASTERCARD,
    PASSWORD,
    VISA,
    enroll,
    to_confirm,
    to_email,
    to_passcode,
    to_password,
    walk_to,
)


async def _rows(chat: Chat) -> list[TranscriptEntry]:
    async with chat.bot.database.transaction() as session:
        query = select(TranscriptEntry).order_by(TranscriptEntry.id)
        return list((await session.scalars(query)).all())


def _replies(rows: list[TranscriptEntry], key: str) -> list[dict[str, Any]]:
    return [row.body for row in rows if row.direction == "out" and row.body["key"] == key]


async def test_each_turn_is_its_event_then_its_replies_with_where_it_happened(
    chat: Chat,
) -> None:
    await chat.send("/start")
    await chat.send(VISA.number)
    rows = await _rows(chat)
    assert [(row.direction, row.state_before, row.state_after) for row in rows] == [
        ("in", "card", "card"),
        ("out", "card", "card"),
        ("out", "card", "card"),
        ("in", "card", "expiry"),
        ("out", "card", "expiry"),
        ("out", "card", "expiry"),
    ]
    assert [row.body.get("key") for row in rows if row.direction == "out"] == [
        "welcome",
        "ask.card",
        "card.accepted",
        "ask.expiry",
    ]
    enrollment = FLOWS.entry
    assert {(row.channel, row.flow, row.flow_version) for row in rows} == {
        ("console", enrollment.name, enrollment.version)
    }
    assert {aware(row.at) for row in rows} == {chat.bot.now()}
    # The chat user is a keyed hash, the same on every row, never the platform's id.
    assert len({row.chat_user for row in rows}) == 1
    assert rows[0].chat_user and len(rows[0].chat_user) == 64 and chat.user not in rows[0].chat_user


async def test_a_hand_over_records_the_flow_that_answered(chat: Chat) -> None:
    await walk_to(chat, "wallet")
    await chat.send(choice="wallet:later")
    last = (await _rows(chat))[-1]
    assert (last.flow, last.state_before, last.state_after) == ("enrollment", "wallet", "member")
    await chat.send("/menu")
    last = (await _rows(chat))[-1]
    assert (last.flow, last.flow_version) == ("member", FLOWS["member"].flow.version)


async def test_the_flow_version_follows_the_flows_data_and_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow = FLOWS.entry
    assert dataclasses.replace(flow).version == flow.version
    moved = [dict(t, dest="card") if t["source"] == "expiry" else t for t in flow.transitions]
    assert dataclasses.replace(flow, transitions=moved).version != flow.version
    monkeypatch.setitem(messages.CATALOG["en"], "ask.card", "Your card number, please.")
    assert dataclasses.replace(flow).version != flow.version


@pytest.mark.parametrize(
    "typed",
    [
        "4980 0012 3456 7000",
        "４９８０ー００１２ー３４５６ー７０００",
        "4980-0012-3456-7000",
        "カード4980001234567000の明細は？",
    ],
)
def test_a_card_number_anywhere_in_a_text_is_a_placeholder(typed: str) -> None:
    assert "⟨card:visa:16:luhn-ok⟩" in redact(typed)
    assert "4980" not in redact(typed) and "7000" not in redact(typed)


def test_the_digits_beside_a_card_number_go_too() -> None:
    assert redact("4980 0012 3456 7000 12/29 123") == "⟨card:visa:16:luhn-ok⟩ ⟨digits:2⟩/⟨digits:5⟩"
    assert redact("3612 345678 9013") == "⟨card:diners:14:luhn-ok⟩"
    assert redact("10月の明細") == "10月の明細"  # short numbers stay when no card is near


async def test_a_card_number_asked_about_after_enrollment_is_never_stored(chat: Chat) -> None:
    await enroll(chat)
    outcome = await chat.send(f"{VISA.number} {VISA.expiry} {VISA.code} の明細")
    assert outcome.secret_input  # deleted where the channel can
    rows = await _rows(chat)
    event = next(row for row in reversed(rows) if row.direction == "in")
    assert event.flow == "member"
    assert event.body == {"text": "⟨card:visa:16:luhn-ok⟩ ⟨digits:2⟩/⟨digits:5⟩ の明細"}
    stored = json.dumps([row.body for row in rows], ensure_ascii=False)
    for secret in ("4980001234567000", "4980 0012", VISA.code, VISA.pin, PASSWORD):
        assert secret not in stored.replace("⟨digits:", "")


async def test_values_random_by_design_are_placeholders(chat: Chat) -> None:
    await to_passcode(chat)
    await chat.send(choice="otp:resend")  # too soon: no new passcode, a wait
    rows = await _rows(chat)
    assert _replies(rows, "ask.confirm")[0]["params"]["card"] == "⟨card:masked⟩"
    assert _replies(rows, "ask.confirm")[0]["params"]["expiry"] == "⟨expiry⟩"
    assert _replies(rows, "ask.otp")[0]["params"]["to"] == "⟨masked-phone⟩"
    assert _replies(rows, "card.accepted")[0]["params"] == {
        "brand": "VISA",
        "card": "⟨card:masked⟩",
    }
    for _ in range(5):
        await chat.send("000000")
    locked = _replies(await _rows(chat), "identity.locked")
    assert locked == [{"key": "identity.locked", "params": {"until": "⟨time⟩"}, "choices": []}]


async def test_the_issued_id_and_the_members_figures_dates_are_placeholders(chat: Chat) -> None:
    await enroll(chat)
    await chat.send("/payment")
    rows = await _rows(chat)
    assert _replies(rows, "done")[0]["params"] == {"netid": "⟨netid⟩"}
    payment = _replies(rows, "member.payment")[0]["params"]
    assert payment["date"] == "⟨date⟩" and payment["amount"] == {"yen": payment["amount"]["yen"]}
    assert _replies(rows, "ask.member")[-1]["params"] == {
        "netid": "⟨netid⟩",
        "card": "⟨card:masked⟩",
    }


async def test_a_landline_check_records_the_phone_masked_as_a_placeholder(chat: Chat) -> None:
    await to_confirm(chat, DINERS)
    await chat.send(choice="confirm:ok")
    assert chat.state == "call"
    params = _replies(await _rows(chat), "ask.call")[0]["params"]
    assert params["phone"] == "⟨masked-phone⟩" and params["number"] == "0120-000-555"


def test_the_migration_keeps_what_older_rows_knew(database_url: str) -> None:
    config = schema._config(database_url)
    command.upgrade(config, "0006")
    engine = sqlalchemy.create_engine(sync_url(database_url))
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO conversations (id, channel, user_id, flow, state, slots, lang, "
                "started_at, updated_at) VALUES (1, 'line', 'U1', 'enrollment', 'expiry', "
                "'{}', 'ja', :at, :at)"
            ),
            {"at": "2026-11-24"},
        )
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO transcript_entries (conversation_id, at, direction, state, body) "
                "VALUES (1, :at, 'in', 'card', '{}'), (1, :at, 'out', 'expiry', '{}')"
            ),
            {"at": "2026-11-24"},
        )
    schema.upgrade(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text(
                "SELECT direction, channel, chat_user, state_before, state_after "
                "FROM transcript_entries ORDER BY id"
            )
        ).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("in", "line", None, "card", None),
        ("out", "line", None, None, "expiry"),
    ]


# The support CLI, in real subprocesses, over conversations recorded by the engine.

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")
_OUTCOME_KEYS = {"id", "channel", "chat_user", "started", "last_at", "last_state", "outcome"}


def _cli(settings: Settings, clock: Clock, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "NETANSWER_KEY_FILE": str(settings.key_file),
        "NETANSWER_SANDBOX_NOW": clock.now.isoformat(),
    }
    return subprocess.run(
        [_COMMAND, "transcripts", *args], capture_output=True, text=True, env=env, timeout=60
    )


def _json(settings: Settings, clock: Clock, *args: str) -> Any:
    done = _cli(settings, clock, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@dataclass
class Recorded:
    """Conversations of every outcome, by user, and every secret typed into them."""

    ids: dict[str, int]
    netid: str
    secrets: list[str]


async def _record(bot: Runtime, clock: Clock) -> Recorded:
    gone = Chat(bot, user="chat-user-gone")  # walked away at the expiry question
    await gone.send("/start")
    await gone.send(VISA.number)
    clock.advance(minutes=31)
    done = Chat(bot, user="chat-user-done")
    passcodes = [await to_passcode(done)]
    await done.send(passcodes[0])
    await done.send(choice="wallet:later")
    assert done.state == "member"
    await done.send(f"{VISA.number} の明細")  # a card number asked about, by mistake
    quit_ = Chat(bot, user="chat-user-quit")
    await to_password(quit_, AMEX)
    await quit_.send("/cancel")
    locked = Chat(bot, user="chat-user-locked")
    passcodes.append(await to_passcode(locked, MASTERCARD))
    for _ in range(5):
        await locked.send("999999")
    assert locked.state == "closed"
    typing = Chat(bot, user="chat-user-typing", channel="telegram")
    await to_email(typing, JCB)
    await bot.engine.handle(Inbound("line", "chat-user-left", "l1", text="/start"))
    await bot.engine.handle(Inbound("line", "chat-user-left", "l2", text=JCB.number))
    await bot.engine.handle(Inbound("line", "chat-user-left", "l3", kind=Kind.LEFT))
    async with bot.database.transaction() as session:
        ids = {
            user.removeprefix("chat-user-"): (await conversations.find(session, channel, user)).id  # type: ignore[union-attr]
            for channel, user in (
                ("console", "chat-user-gone"),
                ("console", "chat-user-done"),
                ("console", "chat-user-quit"),
                ("console", "chat-user-locked"),
                ("telegram", "chat-user-typing"),
                ("line", "chat-user-left"),
            )
        }
        member = await members.linked(session, "console", "chat-user-done")
    assert member is not None
    secrets = [*passcodes, PASSWORD]
    for card in (VISA, MASTERCARD, JCB, AMEX):
        secrets += [card.number, card.number.replace(" ", ""), card.code, card.pin]
    return Recorded(ids, member.net_answer_id, secrets)


def _secrets_in(output: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if re.search(rf"(?<![\w,.]){re.escape(s)}(?![\w,.])", output)]


async def test_support_lists_shows_and_exports_without_a_secret(
    bot: Runtime, settings: Settings, clock: Clock
) -> None:
    recorded = await _record(bot, clock)
    ids = recorded.ids
    listed = _json(settings, clock, "list", "--json")
    assert all(set(item) >= _OUTCOME_KEYS for item in listed)
    assert {item["id"]: item["outcome"] for item in listed} == {
        ids["gone"]: "abandoned",
        ids["done"]: "completed",
        ids["quit"]: "cancelled",
        ids["locked"]: "locked",
        ids["typing"]: "in_progress",
        ids["left"]: "abandoned",
    }
    assert [item["id"] for item in listed] == sorted(ids.values())  # oldest first
    by_id = {item["id"]: item for item in listed}
    assert by_id[ids["typing"]]["channel"] == "telegram"
    assert by_id[ids["typing"]]["last_state"] == "email"
    assert by_id[ids["done"]]["last_state"] == "member"

    lines = _cli(settings, clock, "list").stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(i) for i in sorted(ids.values())]
    assert lines[0].split("\t")[1:] == ["console", "2026-11-24 19:00:00 JST", "expiry", "abandoned"]

    def only(*args: str) -> list[int]:
        return [item["id"] for item in _json(settings, clock, "list", "--json", *args)]

    assert only("--outcome", "locked") == [ids["locked"]]
    assert only("--channel", "telegram") == [ids["typing"]]
    assert only("--state", "closed", "--channel", "console") == [ids["quit"], ids["locked"]]
    assert only("--member", recorded.netid) == [ids["done"]]
    assert only("--member", "nobody12345") == []
    assert only("--since", "2026-11-25") == []
    assert len(only("--since", "2026-11-24")) == len(ids)

    shown = _cli(settings, clock, "show", str(ids["locked"]))
    assert shown.returncode == 0
    assert "[confirm -> otp]" in shown.stdout and "[otp -> closed]" in shown.stdout
    assert "⟨otp:wrong⟩" in shown.stdout and "locked at closed" in shown.stdout
    timeline = _json(settings, clock, "show", str(ids["done"]), "--json")
    assert set(timeline) >= _OUTCOME_KEYS and timeline["outcome"] == "completed"
    steps = timeline["steps"]
    assert steps[0]["in"] == {"command": "start"} and steps[0]["state_after"] == "card"
    assert steps[-1]["in"] == {"text": "⟨card:visa:16:luhn-ok⟩ の明細"}
    assert (steps[-1]["flow"], steps[-1]["state_before"]) == ("member", "member")

    exported = _cli(settings, clock, "export", str(ids["done"]))
    assert exported.returncode == 0
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert all(
        {"direction", "text", "at", "state_before", "state_after"} <= set(row)
        or {"direction", "choice", "at", "state_before", "state_after"} <= set(row)
        for row in rows
    )
    assert rows[0] == {
        "direction": "in",
        "text": "/start",
        "at": "2026-11-24T10:31:00+00:00",
        "flow": "enrollment",
        "flow_version": FLOWS.entry.version,
        "state_before": "card",
        "state_after": "card",
        "channel": "console",
        "lang": "ja",
    }
    assert [row["direction"] for row in rows[:3]] == ["in", "out", "out"]
    assert rows[1]["text"].startswith("こんにちは") and rows[1]["key"] == "welcome"
    pressed = [row["choice"] for row in rows if "choice" in row]
    assert pressed == ["newsletter:no", "terms:agree", "confirm:ok", "wallet:later"]
    assert {"direction": "in", "text": "⟨card:visa:16:luhn-ok⟩ の明細"}.items() <= rows[-3].items()
    done_text = next(row["text"] for row in rows if row.get("key") == "done")
    assert "⟨netid⟩" in done_text and recorded.netid not in exported.stdout

    outputs = [_cli(settings, clock, "list").stdout, json.dumps(listed, ensure_ascii=False)]
    outputs += [shown.stdout, json.dumps(timeline, ensure_ascii=False)]
    outputs += [_cli(settings, clock, "export", str(i)).stdout for i in ids.values()]
    async with bot.database.transaction() as session:
        stored = (await session.scalars(select(TranscriptEntry))).all()
    outputs.append(json.dumps([[r.chat_user, r.body] for r in stored], ensure_ascii=False))
    assert all(_secrets_in(output, recorded.secrets) == [] for output in outputs)
    assert not any("chat-user-" in output for output in outputs)  # no platform user id


async def test_an_unknown_id_is_one_line_and_exit_1(settings: Settings, clock: Clock) -> None:
    for action in ("show", "export"):
        done = _cli(settings, clock, action, "4242")
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr == "netanswer-bot: no transcript with id 4242\n"


async def test_purge_removes_only_rows_older_than_the_retention(
    bot: Runtime, settings: Settings, clock: Clock
) -> None:
    old = Chat(bot, user="old")
    await walk_to(old, "code")
    clock.advance(days=10)
    recent = Chat(bot, user="recent")
    await walk_to(recent, "code")
    rows = {row.conversation_id for row in await _rows(recent)}
    assert len(rows) == 2
    kept = _cli(settings, clock, "purge")  # 180 days by default
    assert kept.stdout == "deleted 0 transcript rows older than 180 days\n"
    old_rows = len([row for row in await _rows(old) if aware(row.at) < clock.now])
    purged = _cli(settings, clock, "purge", "--older-than", "5d")
    assert purged.stdout == f"deleted {old_rows} transcript rows older than 5 days\n"
    assert {aware(row.at) for row in await _rows(recent)} == {clock.now}
    assert len(_json(settings, clock, "list", "--json")) == 1


def test_the_retention_is_a_setting() -> None:
    assert Settings.from_env({}).transcript_retention_days == 180
    assert Settings.from_env({"TRANSCRIPT_RETENTION_DAYS": "30"}).transcript_retention_days == 30
    with pytest.raises(ConfigError, match="TRANSCRIPT_RETENTION_DAYS must be a whole number"):
        Settings.from_env({"TRANSCRIPT_RETENTION_DAYS": "soon"})
