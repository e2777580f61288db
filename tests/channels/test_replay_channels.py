"""Conversations recorded through the channels' webhooks (Telegram and LINE
stand-ins), exported and replayed against the current flows: they reproduce, and their
transcripts hold no demo secret."""

import asyncio
import json
import re
from pathlib import Path

from bot import replay, transcripts
from bot.config import Settings
from bot.registry import FLOWS
from bot.runtime import Runtime
from storage import sandbox
from tests.channels.conftest import Friend, Member
from tests.enroll import PASSWORD, VISA, answers_to_passcode


async def _passcode(runtime: Runtime) -> str:
    async with runtime.database.transaction() as session:
        messages = await sandbox.read(session, runtime.vault)
    found = re.search(r"\b(\d{6})\b", messages[-1].text)
    assert found
    return found[1]


async def _export(runtime: Runtime, path: Path) -> Path:
    (found,) = await transcripts.listing(runtime.database, FLOWS, runtime.now())
    steps = await transcripts.steps(runtime.database, found.id, found.lang)
    lines = transcripts.export_lines(steps, channel=found.channel, lang=found.lang)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    await asyncio.to_thread(path.write_text, text)
    return path


async def _reproduces(runtime: Runtime, settings: Settings, path: Path, passcode: str) -> None:
    exported = await _export(runtime, path)
    recorded = exported.read_text()
    for secret in (VISA.number, VISA.number.replace(" ", ""), PASSWORD, passcode):
        assert secret not in recorded
    report = await replay.replay(replay.read(exported), settings)
    assert report.reproduced, replay.side_by_side(report.recorded, report.now)


async def test_a_telegram_conversation_replays(
    member: Member, runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    for kind, sent in answers_to_passcode():
        await (member.say(sent) if kind == "text" else member.choose(sent))
    await member.say("000000")  # a wrong passcode first
    passcode = await _passcode(runtime)
    await member.say(passcode)
    await member.choose("wallet:later")
    await member.say("/points")
    await member.say("10月の明細")
    await _reproduces(runtime, settings, tmp_path / "telegram.jsonl", passcode)


async def test_a_line_conversation_replays(
    friend: Friend, line_runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    await friend.post(friend.follow())
    for kind, sent in answers_to_passcode():
        await (friend.say(sent) if kind == "text" else friend.choose(sent))
    passcode = await _passcode(line_runtime)
    await friend.choose("otp:pin")
    await friend.say(VISA.pin)
    await friend.choose("wallet:later")
    await friend.choose("menu:payment")
    await _reproduces(line_runtime, settings, tmp_path / "line.jsonl", passcode)
