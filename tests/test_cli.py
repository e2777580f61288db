"""The `netanswer-bot` command as a tester uses it, in a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.enroll import EMAIL, PASSWORD, VISA

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }


class JsonChat:
    """`netanswer-bot chat --json`: one line in, one line out."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [_COMMAND, "chat", "--json", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def send(self, line: str) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def text(self, text: str) -> dict[str, Any]:
        return self.send(json.dumps({"text": text}, ensure_ascii=False))

    def choice(self, data: str) -> dict[str, Any]:
        return self.send(json.dumps({"choice": data}))

    def close(self) -> int:
        assert self.process.stdin
        self.process.stdin.close()
        return self.process.wait(timeout=30)


def test_json_chat_enrolls_a_card_end_to_end(env: dict[str, str]) -> None:
    chat = JsonChat(env, "--user", "tester")
    first = chat.text("/start")
    assert first["state"] == "card" and first["sandbox"] == []
    assert set(first["replies"][0]) == {"text", "choices"}
    assert chat.text(VISA.number)["state"] == "expiry"
    assert chat.text(VISA.expiry)["state"] == "code"
    assert chat.text(VISA.code)["state"] == "email"
    newsletter = chat.text(EMAIL)
    assert newsletter["state"] == "newsletter"
    assert [c["data"] for c in newsletter["replies"][-1]["choices"]] == [
        "newsletter:yes",
        "newsletter:no",
    ]
    assert chat.choice("newsletter:no")["state"] == "password"
    assert chat.text(PASSWORD)["state"] == "repeat"
    assert chat.text(PASSWORD)["state"] == "terms"
    confirm = chat.text("規約に同意して確認画面へ")  # a label typed works like the button
    assert confirm["state"] == "confirm"
    labels = {c["data"]: c["label"] for c in confirm["replies"][-1]["choices"]}
    assert labels == {"confirm:ok": "本人確認へ進む", "confirm:edit": "戻って修正する"}
    otp = chat.choice("confirm:ok")
    assert otp["state"] == "otp"
    [sms] = otp["sandbox"]
    assert sms["kind"] == "sms" and sms["to"] == VISA.phone
    code = next(word for word in sms["text"].replace("：", " ").split() if word[:6].isdigit())[:6]
    done = chat.text(code)
    assert done["state"] == "wallet"
    assert [m["kind"] for m in done["sandbox"]] == ["mail"]
    assert chat.choice("wallet:later")["state"] == "member"
    assert chat.close() == 0


def test_the_same_user_continues_in_a_later_invocation(env: dict[str, str]) -> None:
    first = JsonChat(env, "--user", "returning")
    first.text("/start")
    first.text(VISA.number)
    assert first.close() == 0
    second = JsonChat(env, "--user", "returning")
    assert second.text(VISA.expiry)["state"] == "code"
    assert second.close() == 0
    other = JsonChat(env, "--user", "someone-else")
    assert other.text(VISA.expiry)["replies"][0]["text"].startswith("こんにちは")
    assert other.close() == 0


def test_json_chat_in_english_and_bad_lines(env: dict[str, str]) -> None:
    chat = JsonChat(env, "--lang", "en", "--user", "en-user")
    assert chat.send("not json")["error"]
    assert chat.send('{"text": 5}')["error"]
    assert chat.text("/start")["replies"][0]["text"].startswith("Hello")
    assert chat.close() == 0


def test_sandbox_outbox_lists_messages_newest_last(env: dict[str, str]) -> None:
    chat = JsonChat(env, "--user", "outbox")
    for line in ("/start", VISA.number, VISA.expiry, VISA.code, EMAIL):
        chat.text(line)
    chat.choice("newsletter:no")
    chat.text(PASSWORD)
    chat.text(PASSWORD)
    chat.choice("terms:agree")
    chat.choice("confirm:ok")
    chat.send(json.dumps({"choice": "otp:resend"}))
    assert chat.close() == 0
    listing = subprocess.run(
        [_COMMAND, "sandbox", "outbox", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [row["kind"] for row in rows] == ["sms"]
    assert rows[0]["to"] == VISA.phone and "ワンタイムパスコード" in rows[0]["text"]
    plain = subprocess.run(
        [_COMMAND, "sandbox", "outbox"], env=env, capture_output=True, text=True, check=True
    )
    assert VISA.phone in plain.stdout


def test_interactive_chat_numbers_the_buttons(env: dict[str, str]) -> None:
    lines = [VISA.number, VISA.expiry, VISA.code, EMAIL, "2"]
    result = subprocess.run(
        [_COMMAND, "chat", "--user", "keyboard"],
        input="\n".join(lines) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "[1] 受け取る" in result.stdout and "[2] 受け取らない" in result.stdout
    assert "パスワード" in result.stdout.split("[2] 受け取らない")[-1]  # "2" chose "no", moved on


def test_graph_prints_mermaid_from_the_flow() -> None:
    result = subprocess.run([_COMMAND, "graph"], capture_output=True, text=True, check=True)
    assert "stateDiagram-v2" in result.stdout
    assert "confirm --> otp: next" in result.stdout


def test_graph_draws_any_registered_flow() -> None:
    result = subprocess.run(
        [_COMMAND, "graph", "member"], capture_output=True, text=True, check=True
    )
    assert "[*] --> member" in result.stdout and "expiry" not in result.stdout
    unknown = subprocess.run([_COMMAND, "graph", "nosuch"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr


def test_db_upgrade(env: dict[str, str]) -> None:
    result = subprocess.run([_COMMAND, "db", "upgrade"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_production_refuses_the_sandbox(env: dict[str, str]) -> None:
    result = subprocess.run(
        [_COMMAND, "chat", "--json"],
        env={**env, "NETANSWER_ENV": "production"},
        input="",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "production" in result.stderr and "Traceback" not in result.stderr


def test_readme_shows_the_current_graph() -> None:
    result = subprocess.run([_COMMAND, "graph"], capture_output=True, text=True, check=True)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert f"```mermaid\n{result.stdout}```" in readme, "paste `netanswer-bot graph` into README"


def _to_passcode_step(chat: JsonChat) -> dict[str, Any]:
    for line in ("/start", VISA.number, VISA.expiry, VISA.code, EMAIL):
        chat.text(line)
    chat.choice("newsletter:no")
    chat.text(PASSWORD)
    chat.text(PASSWORD)
    chat.choice("terms:agree")
    return chat.choice("confirm:ok")


def test_json_chat_pin_instead_of_sms(env: dict[str, str]) -> None:
    chat = JsonChat(env, "--user", "pin-user")
    otp = _to_passcode_step(chat)
    assert [c["data"] for c in otp["replies"][-1]["choices"]] == [
        "otp:resend",
        "otp:email",
        "otp:pin",
    ]
    assert chat.choice("otp:pin")["state"] == "pin"
    wrong = chat.text("0000")
    assert wrong["state"] == "pin" and "あと4回" in wrong["replies"][0]["text"]
    assert chat.text(VISA.pin)["state"] == "wallet"
    assert chat.close() == 0


def test_json_chat_passcode_by_email(env: dict[str, str]) -> None:
    chat = JsonChat(env, "--user", "mail-user")
    _to_passcode_step(chat)
    switched = chat.choice("otp:email")  # at once: no 60-second wait to change the way
    assert switched["state"] == "otp" and "vi***@example.jp" in switched["replies"][0]["text"]
    [mail] = switched["sandbox"]
    assert mail["kind"] == "mail" and mail["to"] == VISA.email
    code = next(word for word in mail["text"].replace("：", " ").split() if word[:6].isdigit())[:6]
    assert chat.text(code)["state"] == "wallet"
    assert chat.close() == 0
