"""Every identity-check path and lock through the `chat --json` contract, with the
sandbox clock (NETANSWER_SANDBOX_NOW) moved between invocations instead of waiting."""

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.enroll import DINERS, EMAIL, PASSWORD, VISA, Card

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")
_START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class Member:
    """A member typing into `chat --json` at the moments the test chooses."""

    def __init__(self, env: dict[str, str], user: str = "tester") -> None:
        self.env = env
        self.user = user
        self.now = _START

    def later(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def lines(self, *lines: dict[str, str]) -> list[dict[str, Any]]:
        """Send the lines in one invocation at the current time; one answer per line."""
        result = subprocess.run(
            [_COMMAND, "chat", "--json", "--user", self.user],
            input="".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
            env={**self.env, "NETANSWER_SANDBOX_NOW": self.now.isoformat()},
            capture_output=True,
            text=True,
            check=True,
        )
        return [json.loads(line) for line in result.stdout.splitlines()]

    def say(self, *texts: str) -> dict[str, Any]:
        return self.lines(*({"text": text} for text in texts))[-1]

    def press(self, data: str) -> dict[str, Any]:
        return self.lines({"choice": data})[-1]

    def call(self, number: str) -> bool:
        """`sandbox call` at the current time; whether it passed a waiting check."""
        env = {**self.env, "NETANSWER_SANDBOX_NOW": self.now.isoformat()}
        result = subprocess.run(
            [_COMMAND, "sandbox", "call", number], env=env, capture_output=True, text=True
        )
        return result.returncode == 0

    def to_passcode(self, card: Card = VISA) -> tuple[dict[str, Any], str]:
        answers = self.lines(
            *(
                {"text": text}
                for text in (
                    "/start",
                    card.number,
                    card.expiry,
                    card.code,
                    EMAIL,
                )
            ),
            {"choice": "newsletter:no"},
            {"text": PASSWORD},
            {"text": PASSWORD},
            {"choice": "terms:agree"},
            {"choice": "confirm:ok"},
        )
        last = answers[-1]
        codes = [re.search(r"\b(\d{6})\b", m["text"]) for m in last["sandbox"]]
        return last, next((c[1] for c in codes if c), "")


def _texts(answer: dict[str, Any]) -> str:
    return " ".join(reply["text"] for reply in answer["replies"])


@pytest.fixture
def tester(database_url: str, tmp_path: Path) -> Member:
    return Member(
        {
            **os.environ,
            "DATABASE_URL": database_url,
            "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
            "NETANSWER_CHECK_FLOOR_MS": "0",
        }
    )


def test_passcode_expires_after_five_minutes(tester: Member) -> None:
    answer, code = tester.to_passcode()
    assert answer["state"] == "otp" and len(code) == 6
    tester.later(minutes=5, seconds=1)
    expired = tester.say(code)
    assert expired["state"] == "otp" and "有効期限" in _texts(expired)


def test_resends_wait_a_minute_and_stop_after_three(tester: Member) -> None:
    _, first = tester.to_passcode()
    assert "60秒後" in _texts(tester.press("otp:resend"))
    codes = [first]
    for _ in range(3):
        tester.later(seconds=61)
        resent = tester.press("otp:resend")
        codes.append(re.search(r"\b(\d{6})\b", resent["sandbox"][0]["text"])[1])
    tester.later(seconds=61)
    assert "再発行できる回数を超えました" in _texts(tester.press("otp:resend"))
    assert tester.say(codes[0])["state"] == "otp"  # replaced codes no longer work
    assert tester.say(codes[-1])["state"] == "wallet"


def test_five_wrong_pins_pause_the_card_until_30_minutes_pass(tester: Member) -> None:
    tester.to_passcode()
    tester.press("otp:pin")
    answers = tester.lines(*({"text": "0000"} for _ in range(5)))
    assert answers[-1]["state"] == "closed" and "11/24 19:30" in _texts(answers[-1])
    tester.later(minutes=10)
    paused = tester.say("/start", VISA.number, VISA.expiry, VISA.code)
    assert paused["state"] == "closed" and "11/24 19:30" in _texts(paused)
    tester.later(minutes=21)
    assert tester.say("/start", VISA.number, VISA.expiry, VISA.code)["state"] == "email"


def test_card_guessing_pauses_checks_for_30_minutes(tester: Member) -> None:
    for _ in range(5):
        answer = tester.say("/start", VISA.number, VISA.expiry, "000")
    assert answer["state"] == "closed" and "確認を一時的に停止" in _texts(answer)
    tester.later(minutes=29)
    assert tester.say("/start", VISA.number, VISA.expiry, VISA.code)["state"] == "closed"
    tester.later(minutes=2)
    assert tester.say("/start", VISA.number, VISA.expiry, VISA.code)["state"] == "email"


def test_landline_call_accepted_wrong_caller_and_too_late(tester: Member) -> None:
    answer, _ = tester.to_passcode(DINERS)
    assert answer["state"] == "call" and "0120-000-555" in _texts(answer)
    assert not tester.call("03-9999-0000")  # a wrong caller passes nothing
    assert tester.press("otp:called")["state"] == "call"
    tester.later(minutes=16)
    assert not tester.call("03-1234-5678")  # too late
    assert "15分以内" in _texts(tester.press("otp:called"))
    tester.press("call:again")
    tester.later(minutes=1)
    assert tester.call("03-1234-5678")
    assert tester.press("otp:called")["state"] == "wallet"


def test_passcode_by_mail_and_pin_fallback(tester: Member) -> None:
    tester.to_passcode()
    mailed = tester.press("otp:email")
    [mail] = mailed["sandbox"]
    assert mail["kind"] == "mail" and mail["to"] == VISA.email
    code = re.search(r"\b(\d{6})\b", mail["text"])[1]
    assert tester.say(code)["state"] == "wallet"
