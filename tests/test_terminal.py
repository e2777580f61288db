"""The interactive terminal chat as a person uses it: numbered buttons, leaving with
Ctrl-C or Ctrl-D, a first message that already answers the first question."""

import asyncio
import builtins
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.channels.console import Console
from bot import files
from bot.config import Settings
from bot.runtime import Runtime, start
from tests.conftest import Clock
from tests.enroll import VISA

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")


def _terminal(
    runtime: Runtime, lines: list[str], between: Callable[[], None] = lambda: None
) -> None:
    """Run the interactive chat of ``runtime`` with ``lines`` typed at its prompt."""
    typed: Iterator[str] = iter(lines)

    def type_next(prompt: str = "") -> str:
        between()
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    console = Console(
        runtime,
        runtime.database,
        runtime.vault,
        user_id="person",
        lang=None,
        images=files.images(runtime.settings),
    )
    runtime.attach(console)
    original, builtins.input = builtins.input, type_next
    try:
        with asyncio.Runner() as runner:
            try:
                console.run_interactive(runner)
            finally:
                runner.run(runtime.close())
    finally:
        builtins.input = original


def test_numbered_buttons_keep_working_after_the_rate_limit_notice(
    settings: Settings, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    limited = settings.with_env(NETANSWER_RATE_LIMIT="3")
    runtime = start(limited, clock=clock, rng=random.Random(7))
    waits = iter([0, 0, 0, 61, 0])  # seconds before each line: "1" comes a minute later

    # opened, /cancel: the "start" button [1]; x; x (over the limit); a minute; "1"
    _terminal(runtime, ["/cancel", "x", "x", "1"], lambda: clock.advance(seconds=next(waits)))
    shown = capsys.readouterr().out
    assert "メッセージが続けて届いています" in shown
    after_notice = shown.split("メッセージが続けて届いています")[-1]
    assert "下のボタンからお選びください" not in after_notice
    assert "カード番号を入力してください" in after_notice  # "1" pressed はじめる


@pytest.mark.parametrize("leave", [KeyboardInterrupt, EOFError])
def test_ctrl_c_and_ctrl_d_leave_and_keep_the_conversation(
    settings: Settings, clock: Clock, capsys: pytest.CaptureFixture[str], leave: type
) -> None:
    runtime = start(settings, clock=clock, rng=random.Random(7))
    _terminal(runtime, [VISA.number])
    first = capsys.readouterr().out
    assert "Ctrl-D" in first and "有効期限" in first

    def interrupted(prompt: str = "") -> str:
        raise leave()

    again = start(settings, clock=clock, rng=random.Random(7))
    console = Console(
        again,
        again.database,
        again.vault,
        user_id="person",
        lang=None,
        images=files.images(again.settings),
    )
    again.attach(console)
    original, builtins.input = builtins.input, interrupted
    try:
        with asyncio.Runner() as runner:
            console.run_interactive(runner)  # returns: no traceback, no hang
            runner.run(again.close())
    finally:
        builtins.input = original
    resumed = capsys.readouterr().out
    assert "前回の続き" in resumed and "有効期限" in resumed


def test_ctrl_c_in_a_real_terminal_session_exits_cleanly(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [_COMMAND, "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    waited = time.monotonic() + 60
    seen = b""
    while b"> " not in seen and time.monotonic() < waited:
        seen += process.stdout.read1(4096)  # type: ignore[attr-defined]
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert b"Traceback" not in err


def test_a_first_message_that_answers_the_first_question_is_taken(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
    }
    lines = json.dumps({"text": VISA.number}) + "\n"
    result = subprocess.run(
        [_COMMAND, "chat", "--json", "--user", "new1"],
        input=lines,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert answer["state"] == "expiry"
    texts = [reply["text"] for reply in answer["replies"]]
    assert texts[0].startswith("こんにちは") and "有効期限" in texts[-1]


def test_the_embedded_default_lives_in_one_place_whatever_the_directory(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "NETANSWER_KEY_FILE")
    }
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    sent = [
        *({"text": text} for text in ("/start", VISA.number, VISA.expiry, VISA.code)),
        {"text": "hanako.sato@example.com"},
        {"choice": "newsletter:no"},
        {"text": "Sakura2024x"},
        {"text": "Sakura2024x"},
        {"choice": "terms:agree"},
        {"choice": "confirm:ok"},
    ]
    lines = "".join(json.dumps(line) + "\n" for line in sent)
    subprocess.run(
        [_COMMAND, "chat", "--json"],
        input=lines,
        env=env,
        cwd=first,
        check=True,
        capture_output=True,
        text=True,
    )
    listing = subprocess.run(
        [_COMMAND, "sandbox", "outbox", "--json"],
        env=env,
        cwd=second,
        check=True,
        capture_output=True,
        text=True,
    )
    [sms] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert sms["kind"] == "sms" and sms["to"] == VISA.phone
    folder = tmp_path / "data" / "netanswer-bot"
    assert (folder / "netanswer-bot.sqlite3").exists() and (
        folder / "netanswer-bot.keys.json"
    ).exists()
    assert folder.stat().st_mode & 0o777 == 0o700
    assert list(first.iterdir()) == [] and list(second.iterdir()) == []


def test_the_terminal_chat_shows_no_log_lines(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "NETANSWER_CHECK_FLOOR_MS": "0",
    }
    guesses = [VISA.number, VISA.expiry, "000"] * 5  # the fifth failure pauses the card
    result = subprocess.run(
        [_COMMAND, "chat"],
        input="\n".join(guesses) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert "確認を一時的に停止" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"netanswer-bot data: {tmp_path / 'data' / 'netanswer-bot'}"
    ]
    log = (tmp_path / "data" / "netanswer-bot" / "netanswer-bot.log").read_text()
    assert "WARNING" in log
