"""Transcripts: what is recorded of every turn, and what support agents read of it."""

import dataclasses
import json
from typing import Any

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import select

from bot.registry import FLOWS
from flows import messages
from flows.redaction import redact
from storage import schema
from storage.database import aware, sync_url
from storage.models import TranscriptEntry
from tests.conftest import Chat
from tests.enroll import DINERS, PASSWORD, VISA, enroll, to_confirm, to_passcode, walk_to


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
