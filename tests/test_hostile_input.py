# ruff: noqa: F811 (the channel fixtures are imported by name, and tests take them by name)
"""Requests made to hurt (issue 16, part 3): unsigned bodies are never read, every body
is read up to a limit, deep or mistyped JSON is a 400 without a traceback, ids longer
than their columns never reach the database, the log stays short, and the server
closes connections that send too slowly."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.types import Message

from adapters.channels.channel import ID_LIMIT, JSON_DEPTH_LIMIT, Inbound, json_depth
from bot import serving
from bot.config import Settings
from bot.log_limit import RepeatLimit
from bot.runtime import Runtime, start
from bot.server import MAX_BODY_BYTES, TELEPHONY_SECRET_HEADER, create_app
from storage import conversations
from storage.models import Conversation, ProcessedEvent
from tests.channels.conftest import (  # noqa: F401 (fixtures)
    SECRET,
    Friend,
    Member,
    app,
    client,
    friend,
    line_app,
    line_client,
    line_runtime,
    line_settings,
    line_stand_in,
    member,
    runtime,
    sign,
    stand_in,
    telegram_settings,
)
from tests.channels.telegram_stand_in import TelegramStandIn
from tests.conftest import Clock

TELEPHONY_SECRET = "telephony-shared-secret"
DEEP = b"[" * 100_000 + b"]" * 100_000
LONG_LINE = 500  # characters: no log line may be longer


async def call(
    app: Starlette, path: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, int]:
    """POST ``chunks`` to the ASGI app directly; returns the status and how many chunks
    the app asked for."""
    reads = 0

    async def receive() -> Message:
        nonlocal reads
        if reads < len(chunks):
            reads += 1
            return {
                "type": "http.request",
                "body": chunks[reads - 1],
                "more_body": reads < len(chunks),
            }
        return {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("bot.test", 80),
        "state": {},
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, reads


def no_trace(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing logged carries a traceback or a line longer than :data:`LONG_LINE`."""
    assert "Traceback" not in caplog.text
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert len(record.getMessage()) <= LONG_LINE


async def stored(runtime: Runtime) -> tuple[int, int]:
    """How many conversations and processed events the database holds."""
    async with runtime.database.transaction() as session:
        rows = await session.scalars(select(Conversation))
        events = await session.scalars(select(ProcessedEvent))
        return len(list(rows)), len(list(events))


# Unsigned requests are refused before their body is read.


@pytest.mark.parametrize("secret", [None, "wrong"])
async def test_telegram_without_the_secret_reads_no_body(
    app: Starlette, secret: str | None
) -> None:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    status, reads = await call(app, "/webhooks/telegram", headers, [b"{}"] * 200)
    assert (status, reads) == (403, 0)


async def test_line_without_a_signature_reads_no_body(line_app: Starlette) -> None:
    status, reads = await call(line_app, "/webhooks/line", {}, [b"{}"] * 200)
    assert (status, reads) == (400, 0)


@pytest.fixture
async def telephony(settings: Settings, clock: Clock) -> AsyncIterator[Starlette]:
    bot = await asyncio.to_thread(
        start, replace(settings, telephony_secret=TELEPHONY_SECRET), clock=clock
    )
    app = create_app(bot, retry_every=3600)
    async with app.router.lifespan_context(app):
        yield app


@pytest.mark.parametrize("secret", [None, "wrong"])
async def test_telephony_without_the_secret_reads_no_body(
    telephony: Starlette, secret: str | None
) -> None:
    headers = {} if secret is None else {TELEPHONY_SECRET_HEADER: secret}
    status, reads = await call(telephony, "/telephony/inbound-call", headers, [b"{}"] * 200)
    assert (status, reads) == (403, 0)


# Every body is read up to the limit, and no further.


async def test_a_declared_2mb_body_is_refused_unread(
    app: Starlette, runtime: Runtime, stand_in: TelegramStandIn
) -> None:
    member = Member(httpx.AsyncClient(), stand_in)
    body = json.dumps(member.message("x" * 2 * MAX_BODY_BYTES)).encode()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Length": str(len(body))}
    status, reads = await call(app, "/webhooks/telegram", headers, [body])
    assert (status, reads) == (413, 0)
    assert await stored(runtime) == (0, 0) and stand_in.called("sendMessage") == []


async def test_a_streamed_body_stops_being_read_at_the_limit(
    app: Starlette, runtime: Runtime
) -> None:
    chunk = b" " * 65_536  # JSON whitespace: the body would parse, were it read whole
    chunks = [b'{"update_id": 1, "x": 1}', *[chunk] * 32]  # 2 MB, no Content-Length
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    status, reads = await call(app, "/webhooks/telegram", headers, chunks)
    assert status == 413
    assert reads == MAX_BODY_BYTES // len(chunk) + 1  # the chunk that passed the limit
    assert await stored(runtime) == (0, 0)


async def test_a_signed_line_body_over_the_limit_is_413(
    line_client: httpx.AsyncClient, line_runtime: Runtime
) -> None:
    body = json.dumps({"destination": "U0", "events": [], "pad": "x" * MAX_BODY_BYTES}).encode()
    headers = {"X-Line-Signature": sign(body), "Content-Type": "application/json"}
    answer = await line_client.post("/webhooks/line", content=body, headers=headers)
    assert answer.status_code == 413


async def test_a_telephony_body_over_the_limit_is_413(telephony: Starlette) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 65_536

    transport = httpx.ASGITransport(app=telephony)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        answer = await client.post(
            "/telephony/inbound-call",
            content=chunks(),
            headers={TELEPHONY_SECRET_HEADER: TELEPHONY_SECRET},
        )
    assert answer.status_code == 413


# Deep JSON is a 400, without a traceback.


def test_depth_is_counted_on_the_raw_bytes() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{"}], "c": "\\"]"}') == 3
    assert json_depth(DEEP) == 100_000
    assert json_depth(b'"unterminated [[[') == 0
    assert json_depth(b"") == 0


async def test_deep_json_on_telegram_is_400(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    body = b'{"update_id": 1, "message": ' + DEEP + b"}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    answer = await client.post("/webhooks/telegram", content=body, headers=headers)
    assert answer.status_code == 400
    no_trace(caplog)


async def test_json_just_deep_enough_on_telegram_is_read(
    client: httpx.AsyncClient,
) -> None:
    nested = b"[" * (JSON_DEPTH_LIMIT - 1) + b"]" * (JSON_DEPTH_LIMIT - 1)
    body = b'{"update_id": 7, "unknown": ' + nested + b"}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    answer = await client.post("/webhooks/telegram", content=body, headers=headers)
    assert answer.status_code == 200


async def test_deep_json_on_line_is_400(
    line_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    body = b'{"destination": "U0", "events": ' + DEEP + b"}"
    headers = {"X-Line-Signature": sign(body)}
    answer = await line_client.post("/webhooks/line", content=body, headers=headers)
    assert answer.status_code == 400
    no_trace(caplog)


async def test_deep_json_on_telephony_is_400(
    telephony: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    headers = {TELEPHONY_SECRET_HEADER: TELEPHONY_SECRET}
    status, _ = await call(telephony, "/telephony/inbound-call", headers, [b'{"caller": ' + DEEP])
    assert status == 400
    no_trace(caplog)


# Mistyped and oversized fields.


@pytest.mark.parametrize("text", [["4980", "0000"], 4980, {"card": "4980"}, None, True])
async def test_telegram_text_that_is_not_a_string_is_an_unreadable_message(
    member: Member,
    runtime: Runtime,
    stand_in: TelegramStandIn,
    caplog: pytest.LogCaptureFixture,
    text: Any,
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    update = member.message("placeholder")
    update["message"]["text"] = text
    answer = await member.post(update)
    assert answer.status_code == 200  # answered, so Telegram does not redeliver it
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "TypeError" not in caplog.text
    no_trace(caplog)
    assert await stored(runtime) == (1, 1)  # read like a sticker: the member is asked again


@pytest.mark.parametrize(
    "field, value",
    [
        ("user", "9" * 10_000),
        ("user", 2**70),
        ("user", "5550001"),
        ("chat", "c" * 10_000),
        ("update", 10**3000),
        ("update", "123"),
    ],
)
async def test_telegram_ids_of_the_wrong_type_or_size_are_400(
    member: Member,
    runtime: Runtime,
    stand_in: TelegramStandIn,
    caplog: pytest.LogCaptureFixture,
    field: str,
    value: Any,
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    update = member.message("hello")
    if field == "user":
        update["message"]["from"]["id"] = value
    elif field == "chat":
        update["message"]["chat"]["id"] = value
    else:
        update["update_id"] = value
    answer = await member.post(update)
    assert answer.status_code == 400
    no_trace(caplog)
    assert await stored(runtime) == (0, 0)
    assert stand_in.called("sendMessage") == []


async def test_a_telegram_button_with_data_not_a_string_is_no_choice(
    member: Member, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    await member.say("/start")
    press = member.press("x")
    press["callback_query"]["data"] = ["confirm:ok"]
    press["callback_query"]["from"]["language_code"] = 12
    answer = await member.post(press)
    assert answer.status_code == 200
    no_trace(caplog)


async def test_a_telegram_button_without_its_user_is_400(
    member: Member, runtime: Runtime, stand_in: TelegramStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    await member.say("/start")
    press = member.press("welcome:enroll")
    del press["callback_query"]["from"]
    answer = await member.post(press)
    assert answer.status_code == 400
    no_trace(caplog)
    assert await stored(runtime) == (1, 1)  # the /start alone


@pytest.mark.parametrize("field", ["userId", "webhookEventId"])
async def test_a_line_event_with_an_overlong_id_is_dropped(
    friend: Friend,
    line_runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
    field: str,
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    bad = friend.message("hello")
    if field == "userId":
        bad["source"]["userId"] = "U" * 10_000
    else:
        bad["webhookEventId"] = "E" * 10_000
    good = Friend(friend.client, user_id="U" + "1" * 32).message("hello")
    answer = await friend.post(bad, good)
    assert answer.status_code == 200  # the other events of the request are applied
    assert await stored(line_runtime) == (1, 1)
    no_trace(caplog)
    assert any(f"longer than {ID_LIMIT}" in r.getMessage() for r in caplog.records)


async def test_a_line_event_with_a_timestamp_out_of_range_is_dropped(
    friend: Friend, line_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    bad = friend.message("hello")
    bad["timestamp"] = 2**63 // 1000  # its place in the chat's order would not fit 64 bits
    good = Friend(friend.client, user_id="U" + "1" * 32).message("hello")
    answer = await friend.post(bad, good)
    assert answer.status_code == 200
    assert await stored(line_runtime) == (1, 1)
    no_trace(caplog)
    assert any("timestamp out of range" in r.getMessage() for r in caplog.records)


async def test_a_telegram_date_past_any_calendar_is_400(
    member: Member, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    for date in (2**63, 67_768_036_191_676_800):  # OverflowError, then OSError, when read
        update = member.message("hello")
        update["message"]["date"] = date
        assert (await member.post(update)).status_code == 400
    no_trace(caplog)
    assert await stored(runtime) == (0, 0)


async def test_a_line_text_that_is_not_a_string_is_dropped(
    friend: Friend, line_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    event = friend.message("hello")
    event["message"]["text"] = ["4980"]
    answer = await friend.post(event)
    assert answer.status_code == 200  # the SDK reads it as an event of an unknown type
    no_trace(caplog)
    assert await stored(line_runtime) == (0, 0)


async def test_a_failed_turn_logs_a_cut_event_id(
    runtime: Runtime, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(conversations, "claim_event", broken)
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    outcome = await runtime.engine.handle(Inbound("telegram", "1", "E" * 10_000, text="hi"))
    assert outcome.failed
    (record,) = [r for r in caplog.records if "turn failed" in r.getMessage()]
    assert len(record.getMessage()) < 120


# The log and the server.


def test_repeated_log_lines_are_let_through_then_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    handler = logging.Handler()
    emitted: list[str] = []
    handler.emit = lambda record: emitted.append(record.getMessage())  # type: ignore[method-assign]
    handler.addFilter(RepeatLimit(first=3, window=60, clock=lambda: now[0]))
    flood = logging.getLogger("tests.flood")
    flood.addHandler(handler)
    flood.propagate = False
    limiter = logging.getLogger("bot.log_limit")
    limiter.addHandler(handler)
    try:
        for n in range(1000):
            flood.error("socket.accept() out of system resource (%s)", n)
        flood.warning("another message")
        assert emitted == [
            "socket.accept() out of system resource (0)",
            "socket.accept() out of system resource (1)",
            "socket.accept() out of system resource (2)",
            "another message",
        ]
        now[0] = 61.0
        flood.error("socket.accept() out of system resource (%s)", 1000)
        assert emitted[4:] == [
            "997 more like this from tests.flood in 60s were not logged: "
            "socket.accept() out of system resource (%s)",
            "socket.accept() out of system resource (1000)",
        ]
    finally:
        flood.removeHandler(handler)
        limiter.removeHandler(handler)
        flood.propagate = True


def test_serve_runs_uvicorn_with_timeouts_and_limits() -> None:
    config = serving.config(object(), host="127.0.0.1", port=8000)
    assert config.http is serving.ReadDeadline
    assert config.timeout_keep_alive == serving.KEEP_ALIVE_TIMEOUT
    assert config.h11_max_incomplete_event_size == serving.MAX_HEADER_BYTES
    assert config.limit_concurrency == serving.MAX_CONCURRENCY
    assert config.backlog == serving.BACKLOG


async def test_a_client_sending_too_slowly_is_disconnected() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    fast = type("Fast", (serving.ReadDeadline,), {"read_timeout": 0.3})
    config = serving.config(app, host="127.0.0.1", port=0)
    config.http = fast
    config.lifespan = "off"
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]

        # Headers one piece at a time, never finished: closed at the deadline.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""
        writer.close()

        # A body that stops halfway: closed too.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""
        writer.close()

        # A whole request in time is answered.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        assert (await asyncio.wait_for(reader.read(), timeout=5)).startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        server.should_exit = True
        await task


def test_the_id_limit_is_the_width_of_the_id_columns() -> None:
    from storage.models import OutboxMessage

    columns = [
        Conversation.__table__.c.user_id,
        ProcessedEvent.__table__.c.event_id,
        OutboxMessage.__table__.c.user_id,
    ]
    assert {column.type.length for column in columns} == {ID_LIMIT}  # type: ignore[attr-defined]
