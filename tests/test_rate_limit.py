"""At most 20 messages per chat user per minute are processed, however many workers
share the load; beyond that, one polite "please wait" and nothing else."""

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.runtime import start
from tests.conftest import Chat, Clock
from tests.enroll import VISA

LIMIT = 20


async def test_beyond_the_limit_one_please_wait_then_silence(
    settings: Settings, clock: Clock
) -> None:
    runtime = await asyncio.to_thread(start, replace(settings, rate_limit=LIMIT), clock=clock)
    try:
        chat = Chat(runtime)
        await chat.send("/start")
        for _ in range(LIMIT - 1):
            await chat.send("/help")
            assert chat.keys == ["help.card", "ask.card"]
        await chat.send(VISA.number)
        assert chat.keys == ["slow_down"] and chat.state == "card"  # not processed
        await chat.send(VISA.number)
        assert chat.keys == [] and chat.state == "card"
        other = Chat(runtime, user="someone-else")  # the limit is per chat user
        await other.send("/start")
        assert other.keys == ["welcome", "ask.card"]
        clock.advance(minutes=1)
        await chat.send(VISA.number)
        assert chat.state == "expiry"
    finally:
        await runtime.close()


def test_the_limit_holds_across_two_worker_processes(database_url: str, tmp_path: Path) -> None:
    """Two `chat --json` processes (two workers, one database) share one member's quota."""
    command = str(Path(sys.executable).parent / "netanswer-bot")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "NETANSWER_RATE_LIMIT": str(LIMIT),
    }
    subprocess.run([command, "db", "upgrade"], env=env, check=True)
    if datetime.now(UTC).second > 40:  # keep the whole burst inside one clock minute
        time.sleep(61 - datetime.now(UTC).second)
    workers = [
        subprocess.Popen(
            [command, "chat", "--json", "--user", "flooder"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    lines = '{"text": "/help"}\n' * 15
    outputs = [worker.communicate(lines, timeout=120)[0] for worker in workers]
    answers = [json.loads(line) for output in outputs for line in output.splitlines()]
    texts = [reply["text"] for answer in answers for reply in answer["replies"]]
    assert len(answers) == 30
    processed = [answer for answer in answers if len(answer["replies"]) == 2]
    assert len(processed) == LIMIT
    assert sum("1分ほど待って" in text for text in texts) == 1
    assert sum(answer["replies"] == [] for answer in answers) == 30 - LIMIT - 1
