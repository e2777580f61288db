"""Replay, coverage and the highlighted graph: recorded conversations of every path are
exported and re-run against the current flows; a changed message, a changed transition
and a hand-edited export are each caught at their step; nothing secret is printed."""

import asyncio
import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot import enrollment, membership, replay, signin, transcripts
from bot.config import Settings
from bot.handlers import Flows, Handlers
from bot.registry import FLOWS
from bot.runtime import Runtime
from flows import messages
from tests.conftest import Chat, Clock
from tests.enroll import (
    AMEX,
    DINERS,
    EMAIL,
    JCB,
    MASTERCARD,
    MASTERCARD_2,
    PASSWORD,
    PERSONAL,
    REGISTERED,
    VISA,
    Card,
    enroll,
    to_code,
    to_confirm,
    to_passcode,
    to_password,
)

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")
SIGNIN_ID, SIGNIN_PASSWORD = "saisonvisa33", "Kumo-Sora2030"  # the README's demo member
Scenario = Callable[[Chat, Clock], Awaitable[None]]


async def _export(chat: Chat, path: Path) -> Path:
    """What `transcripts export` writes for the chat's conversation."""
    assert chat.last is not None
    conversation = chat.last.conversation_id
    bot = chat.bot
    (found,) = await transcripts.listing(
        bot.database, FLOWS, bot.now(), conversation_id=conversation
    )
    steps = await transcripts.steps(bot.database, conversation, found.lang)
    lines = transcripts.export_lines(steps, channel=found.channel, lang=found.lang)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    await asyncio.to_thread(path.write_text, text)
    return path


async def _completed(chat: Chat, clock: Clock) -> None:
    await enroll(chat, MASTERCARD_2)  # the second demo Mastercard: the replay finds it
    await chat.send("/points")
    await chat.send("/statement")
    await chat.send(choice="points:apply")
    await chat.send("1000")
    await chat.send(choice="points:confirm")
    assert chat.keys == ["points.applied", "ask.member"]


async def _cancelled(chat: Chat, clock: Clock) -> None:
    await to_password(chat, AMEX)
    await chat.send("/cancel")
    assert chat.state == "closed"


async def _mismatch_then_success(chat: Chat, clock: Clock) -> None:
    await to_code(chat, VISA)
    await chat.send("999")
    assert chat.state == "card"
    await chat.send("4980 0012 3456 7001")  # a typo: Luhn refuses it
    await chat.send(VISA.number)
    await chat.send("13/29")
    await chat.send(VISA.expiry)
    await chat.send("12")  # too short a code
    await chat.send(VISA.code)
    await chat.send("taro@")  # not an address
    await chat.send(EMAIL)
    await chat.send(choice="newsletter:no")
    await chat.send("abc")  # no digit, too short
    await chat.send(PASSWORD)
    await chat.send("Another1pass")  # the repeat differs
    assert chat.state == "password"


async def _card_locked(chat: Chat, clock: Clock) -> None:
    await chat.send("/start")
    for _ in range(5):
        await chat.send(JCB.number)
        await chat.send(JCB.expiry)
        await chat.send("000")
    assert chat.state == "closed" and "checks.locked" in chat.keys


async def _passcodes_locked(chat: Chat, clock: Clock) -> None:
    await to_passcode(chat, MASTERCARD)
    await chat.send("12")  # not a passcode
    for _ in range(5):
        await chat.send("999999")
    assert chat.state == "closed" and "identity.locked" in chat.keys


async def _by_sms_resent(chat: Chat, clock: Clock) -> None:
    await to_passcode(chat, JCB)
    await chat.send("000000")
    clock.advance(seconds=61)
    await chat.send(choice="otp:resend")
    clock.advance(seconds=10)
    await chat.send(await chat.passcode())
    assert chat.state == "wallet"
    await chat.send(choice="wallet:add")


async def _by_mail(chat: Chat, clock: Clock) -> None:
    await to_passcode(chat, MASTERCARD)  # a card the issuer holds an address for
    await chat.send(choice="otp:email")
    await chat.send(await chat.passcode())
    assert chat.state == "wallet"


async def _by_pin(chat: Chat, clock: Clock) -> None:
    await to_passcode(chat, VISA)
    await chat.send(choice="otp:pin")
    await chat.send("0000")
    await chat.send(VISA.pin)
    assert chat.state == "wallet"


async def _landline(chat: Chat, clock: Clock) -> None:
    await to_confirm(chat, DINERS)
    await chat.send(choice="confirm:ok")
    assert chat.state == "call"
    await chat.send(choice="otp:email")
    await chat.send(await chat.passcode())
    assert chat.state == "wallet"


async def _signed_in(chat: Chat, clock: Clock) -> None:
    await chat.send("/start")
    await chat.send(choice="welcome:signin")
    await chat.send("nobody123")
    await chat.send("Wrong-pass1")
    await chat.send(SIGNIN_ID)
    await chat.send(SIGNIN_PASSWORD)
    await chat.send(await chat.passcode())
    assert chat.state == "member"
    await chat.send("/points")
    await chat.send("ポイントいくら？ 4980 0012 3456 7000")  # a card number in a question


async def _reregistered(chat: Chat, clock: Clock) -> None:
    await to_code(chat, REGISTERED)
    await chat.send(REGISTERED.code)
    assert chat.state == "reregister"
    await chat.send(choice="reregister:signin")
    await chat.send(SIGNIN_ID)
    await chat.send(SIGNIN_PASSWORD)
    await chat.send(choice="otp:pin")
    await chat.send(REGISTERED.pin)
    assert chat.state == "member"


async def _id_step_mistakes(chat: Chat, clock: Clock) -> None:
    """A password at the ID step (refused), a malformed ID, an ID-shaped password taken
    as the ID (and refused at the password), then the sign-in."""
    await chat.send("/start")
    await chat.send(choice="welcome:signin")
    await chat.send(SIGNIN_PASSWORD)
    await chat.send("two words")
    await chat.send(PASSWORD)
    await chat.send(SIGNIN_ID)
    assert chat.keys == ["signin.failed", "ask.signin_id"]
    await chat.send(SIGNIN_ID)
    await chat.send(SIGNIN_PASSWORD)
    await chat.send(await chat.passcode())
    assert chat.state == "member"


async def _new_id_mistakes(chat: Chat, clock: Clock) -> None:
    """A password typed as the new ID, then an ID of one's own; from the confirmation,
    the password typed as the ID, then another ID."""
    await to_password(chat, MASTERCARD_2)
    await chat.send(choice="netid:own")
    await chat.send(SIGNIN_PASSWORD)
    await chat.send("hanako2024")
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    await chat.send(choice="terms:agree")
    await chat.send(choice="confirm:edit")
    await chat.send(choice="fix:netid")
    await chat.send(PASSWORD)
    assert chat.keys == ["netid.same_as_password", "ask.netid"]
    await chat.send("hanako2025")
    assert chat.state == "confirm"


SCENARIOS: dict[str, Scenario] = {
    "completed": _completed,
    "cancelled": _cancelled,
    "mismatch-then-success": _mismatch_then_success,
    "card-locked": _card_locked,
    "passcodes-locked": _passcodes_locked,
    "sms-resent": _by_sms_resent,
    "mail": _by_mail,
    "pin": _by_pin,
    "landline": _landline,
    "signed-in": _signed_in,
    "reregistered": _reregistered,
    "id-step-mistakes": _id_step_mistakes,
    "new-id-mistakes": _new_id_mistakes,
}


@pytest.mark.parametrize("name", SCENARIOS)
async def test_every_path_reproduces(
    bot: Runtime, settings: Settings, clock: Clock, tmp_path: Path, name: str
) -> None:
    chat = Chat(bot, user=f"user-{name}")
    await SCENARIOS[name](chat, clock)
    exported = await _export(chat, tmp_path / "conversation.jsonl")
    report = await replay.replay(replay.read(exported), settings)
    assert report.reproduced, replay.side_by_side(report.recorded, report.now)
    assert report.steps == len(replay.read(exported))


async def test_a_changed_message_differs_at_the_first_step_that_says_it(
    chat: Chat, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await to_code(chat, VISA)
    exported = await _export(chat, tmp_path / "conversation.jsonl")
    monkeypatch.setitem(messages.CATALOG["ja"], "ask.expiry", "有効期限は？")
    report = await replay.replay(replay.read(exported), settings)
    assert report.differs_at == 2  # the card number's step asks for the expiry
    assert report.recorded[-1]["key"] == report.now[-1]["key"] == "ask.expiry"
    assert report.now[-1]["text"] == "有効期限は？" != report.recorded[-1]["text"]
    shown = replay.side_by_side(report.recorded, report.now)
    assert "≠ out ask.expiry" in shown and "有効期限は？" in shown


async def test_a_changed_transition_differs_where_the_conversation_takes_it(
    chat: Chat, settings: Settings, tmp_path: Path
) -> None:
    await to_password(chat, VISA)
    exported = await _export(chat, tmp_path / "conversation.jsonl")
    flow = enrollment.HANDLERS.flow
    moved = [
        dict(t, dest="card") if (t["source"], t["dest"]) == ("expiry", "code") else t
        for t in flow.transitions
    ]
    changed = Handlers(dataclasses.replace(flow, transitions=moved), enrollment.HANDLERS.by_state)
    flows = Flows(changed, membership.HANDLERS, signin.HANDLERS, linked="member")
    report = await replay.replay(replay.read(exported), settings, flows=flows)
    assert report.differs_at == 3  # /start, the card, then the expiry
    assert report.recorded[0]["state_after"] == "code"
    assert report.now[0]["state_after"] == "card"
    assert (await replay.replay(replay.read(exported), settings)).reproduced


def _cli(settings: Settings, clock: Clock, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "NETANSWER_KEY_FILE": str(settings.key_file),
        "NETANSWER_SANDBOX_NOW": clock.now.isoformat(),
        "NETANSWER_RATE_LIMIT": "1000",  # the tests type faster than members
    }
    return subprocess.run([_COMMAND, *args], capture_output=True, text=True, env=env, timeout=120)


def _secrets(*cards: Card) -> list[str]:
    found = [PASSWORD, SIGNIN_PASSWORD]
    for card in cards:
        found += [card.number, card.number.replace(" ", ""), card.code, card.pin]
    return found


def _leaked(output: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if re.search(rf"(?<![\w,.]){re.escape(s)}(?![\w,.])", output)]


async def test_the_command_reports_each_outcome_with_its_exit_code(
    chat: Chat, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    await _by_pin(chat, clock)
    passcodes = [m.text for m in await chat.sandbox()]
    exported = await _export(chat, tmp_path / "conversation.jsonl")
    done = _cli(settings, clock, "transcripts", "replay", str(exported))
    assert (done.returncode, done.stdout) == (
        0,
        f"reproduced: all {len(replay.read(exported))} steps\n",
    )
    as_json = _cli(settings, clock, "transcripts", "replay", str(exported), "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["reproduced"] is True

    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    edited = next(i for i, row in enumerate(rows) if row.get("key") == "ask.expiry")
    rows[edited]["text"] = "有効期限を教えて"  # what the record says the bot said
    step = sum(1 for row in rows[: edited + 1] if row["direction"] == "in")
    hand_edited = tmp_path / "edited.jsonl"
    hand_edited.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    differs = _cli(settings, clock, "transcripts", "replay", str(hand_edited))
    assert differs.returncode == 1
    assert differs.stdout.startswith(f"differs at step {step} of ")
    assert "recorded" in differs.stdout and "| now" in differs.stdout
    assert "≠ out ask.expiry {} 有効期限を教えて" in differs.stdout
    report = json.loads(
        _cli(settings, clock, "transcripts", "replay", str(hand_edited), "--json").stdout
    )
    assert report["differs_at"] == step and report["reproduced"] is False

    outputs = [done.stdout, as_json.stdout, differs.stdout, json.dumps(report, ensure_ascii=False)]
    secrets = _secrets(*PERSONAL) + [re.sub(r"\D", "", text)[-6:] for text in passcodes]
    assert all(_leaked(output, secrets) == [] for output in outputs)


async def test_what_cannot_be_replayed_or_read_exits_2(
    chat: Chat, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    await to_passcode(chat, VISA)
    exported = await _export(chat, tmp_path / "conversation.jsonl")
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    rows.append({**rows[0], "text": "⟨passcode⟩"})  # a button label typed at the step
    step = sum(1 for row in rows if row["direction"] == "in")
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    done = _cli(settings, clock, "transcripts", "replay", str(unknown))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"netanswer-bot: cannot replay step {step}: ⟨passcode⟩\n"

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"direction": "in", "text": "/start"}\nnot json\n')
    for path in (broken, tmp_path / "missing.jsonl"):
        done = _cli(settings, clock, "transcripts", "replay", str(path))
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("netanswer-bot: ") and str(path.name) in done.stderr


async def test_coverage_counts_transitions_and_lists_the_untaken(
    bot: Runtime, settings: Settings, clock: Clock
) -> None:
    await _cancelled(Chat(bot, user="quit"), clock)
    await _mismatch_then_success(Chat(bot, user="typo"), clock)
    found = json.loads(_cli(settings, clock, "transcripts", "coverage", "--json").stdout)
    flows = {flow["flow"]: flow for flow in found}
    assert set(flows) == {"enrollment", "member", "signin"}
    taken = {
        (t["source"], t["dest"], t["trigger"]): t["count"] for t in flows["enrollment"]["taken"]
    }
    assert taken[("card", "expiry", "next")] == 3
    assert taken[("code", "card", "mismatch")] == 1
    untaken = {(t["source"], t["dest"], t["trigger"]) for t in flows["enrollment"]["untaken"]}
    assert ("terms", "closed", "decline") in untaken and ("card", "expiry", "next") not in untaken
    assert {"source": "password", "dest": "closed", "count": 1} in flows["enrollment"]["other"]
    assert flows["signin"]["taken"] == []

    text = _cli(settings, clock, "transcripts", "coverage").stdout
    assert "       3  card -> expiry (next)" in text
    assert "   never  terms -> closed (decline)" in text
    assert "       1  password -> closed (not drawn: /cancel, /start)" in text
    assert _leaked(text, _secrets(VISA, AMEX)) == []
    later = json.loads(
        _cli(settings, clock, "transcripts", "coverage", "--since", "2026-11-25", "--json").stdout
    )
    assert all(flow["taken"] == [] for flow in later)


async def test_the_graph_highlights_the_path_of_one_conversation(
    chat: Chat, settings: Settings, clock: Clock
) -> None:
    await enroll(chat, VISA)
    await chat.send("/points")
    assert chat.last is not None
    drawn = _cli(settings, clock, "graph", "--transcript", str(chat.last.conversation_id))
    assert drawn.returncode == 0, drawn.stderr
    enrollment_graph, member_graph = drawn.stdout.split("\n\n---\n")
    assert "classDef s_visited color:black,fill:palegreen" in enrollment_graph
    assert "Class expiry s_visited" in enrollment_graph
    assert "Class fix s_default" in enrollment_graph  # never went there
    assert "Class member s_active" in enrollment_graph  # where enrollment handed over
    assert "card --> expiry: next ×1" in enrollment_graph
    assert "confirm --> otp: next ×1" in enrollment_graph
    assert "terms --> closed: decline\n" in enrollment_graph
    assert "Class member s_active" in member_graph
    only = _cli(settings, clock, "graph", "member", "--transcript", str(chat.last.conversation_id))
    assert only.stdout.strip() == ("---\n" + member_graph).strip()
    assert _leaked(drawn.stdout, _secrets(VISA)) == []
    missing = _cli(settings, clock, "graph", "--transcript", "4242")
    assert missing.returncode == 1
    assert missing.stderr == "netanswer-bot: no transcript with id 4242\n"
