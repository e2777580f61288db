"""The landline check's other end: POST /telephony/inbound-call and `sandbox call`."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bot.config import Settings
from bot.runtime import Runtime, start
from bot.server import TELEPHONY_SECRET_HEADER, create_app
from tests.conftest import Chat, Clock
from tests.enroll import DINERS, answers_to_passcode, to_confirm

SECRET = "telephony-shared-secret"


@pytest.fixture
async def served(
    settings: Settings, clock: Clock
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    runtime = await asyncio.to_thread(
        start, replace(settings, telephony_secret=SECRET), clock=clock
    )
    app = create_app(runtime, retry_every=3600)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            yield runtime, client


async def _waiting_for_a_call(runtime: Runtime) -> Chat:
    chat = Chat(runtime)
    await to_confirm(chat, DINERS)
    await chat.send(choice="confirm:ok")
    assert chat.state == "call"
    return chat


async def test_a_call_from_the_registered_landline_passes_the_check(served) -> None:  # type: ignore[no-untyped-def]
    runtime, client = served
    chat = await _waiting_for_a_call(runtime)
    answer = await client.post(
        "/telephony/inbound-call",
        json={"caller": "+81 3-1234-5678"},
        headers={TELEPHONY_SECRET_HEADER: SECRET},
    )
    assert answer.status_code == 200 and answer.json() == {"matched": 1}
    await chat.send(choice="otp:called")
    assert chat.state == "wallet"


@pytest.mark.parametrize("secret", [None, "", "wrong"])
async def test_the_endpoint_needs_the_shared_secret(served, secret: str | None) -> None:  # type: ignore[no-untyped-def]
    runtime, client = served
    chat = await _waiting_for_a_call(runtime)
    headers = {} if secret is None else {TELEPHONY_SECRET_HEADER: secret}
    answer = await client.post(
        "/telephony/inbound-call", json={"caller": "03-1234-5678"}, headers=headers
    )
    assert answer.status_code == 403
    await chat.send(choice="otp:called")
    assert chat.keys[0] == "call.pending"


@pytest.mark.parametrize(
    "body", [b"{", b"[]", b'{"caller": 312345678}', b'{"caller": "abc"}', b"{}"]
)
async def test_malformed_calls_are_refused(served, body: bytes) -> None:  # type: ignore[no-untyped-def]
    _, client = served
    answer = await client.post(
        "/telephony/inbound-call", content=body, headers={TELEPHONY_SECRET_HEADER: SECRET}
    )
    assert answer.status_code == 400


async def test_the_endpoint_is_off_without_a_secret(settings: Settings, clock: Clock) -> None:
    runtime = await asyncio.to_thread(start, settings, clock=clock)
    app = create_app(runtime, retry_every=3600)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            answer = await client.post("/telephony/inbound-call", json={"caller": "0312345678"})
    assert answer.status_code == 404


def test_sandbox_call_plays_the_call(database_url: str, tmp_path: Path) -> None:
    command = str(Path(sys.executable).parent / "netanswer-bot")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "NETANSWER_CHECK_FLOOR_MS": "0",
    }
    sent = [
        {"text": typed} if kind == "text" else {"choice": typed}
        for kind, typed in answers_to_passcode(DINERS)
    ]
    chat = [json.dumps(line, ensure_ascii=False) for line in sent]
    result = subprocess.run(
        [command, "chat", "--json"],
        input="\n".join(chat) + "\n",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"state": "call"' in result.stdout.splitlines()[-1]
    nobody = subprocess.run(
        [command, "sandbox", "call", "03-9999-9999"], env=env, capture_output=True, text=True
    )
    assert nobody.returncode == 1 and "no check" in nobody.stdout
    played = subprocess.run(
        [command, "sandbox", "call", "03-1234-5678"], env=env, capture_output=True, text=True
    )
    assert played.returncode == 0 and "confirmed" in played.stdout
    done = subprocess.run(
        [command, "chat", "--json"],
        input='{"choice": "otp:called"}\n',
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"state": "wallet"' in done.stdout
    bad = subprocess.run(
        [command, "sandbox", "call", "hello"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
