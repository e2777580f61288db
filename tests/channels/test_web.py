"""The web chat end to end: the page at ``/`` and its WebSocket, through the served
app on SQLite and PostgreSQL, as a browser would use them (Starlette's TestClient
keeps the session cookie like a browser)."""

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from sqlalchemy import select
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from adapters.channels import web
from adapters.channels.channel import Inbound
from adapters.channels.web import COOKIE, NO_SESSION, SOCKET
from bot import serving
from bot.config import ConfigError, Settings
from bot.runtime import Runtime, start
from bot.server import create_app
from flows.messages import render
from flows.replies import Reply
from storage import conversations
from storage.models import Conversation, OutboxMessage
from tests.conftest import Clock, passcode_in
from tests.enroll import EMAIL, PASSWORD, VISA

ORIGIN = {"origin": "http://testserver"}


@dataclass
class Turn:
    """What one event brought to the page: replies, phone messages, the ack."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    phone: list[dict[str, Any]] = field(default_factory=list)
    ack: dict[str, Any] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return [reply["text"] for reply in self.replies]

    @property
    def question(self) -> dict[str, Any]:
        return self.replies[-1]


@dataclass
class Page:
    """One open page: its socket, and the history it was given on connecting."""

    socket: WebSocketTestSession
    history: list[dict[str, str]]
    frames: list[dict[str, Any]] = field(default_factory=list)

    def send(self, event: dict[str, Any]) -> Turn:
        event.setdefault("id", uuid.uuid4().hex)
        self.socket.send_text(json.dumps(event))
        return self.until_ack(event["id"])

    def until_ack(self, event_id: str) -> Turn:
        turn = Turn()
        while True:
            frame = self.socket.receive_json()
            self.frames.append(frame)
            if frame["type"] == "reply":
                turn.replies.append(frame)
            elif frame["type"] == "phone":
                turn.phone.extend(frame["messages"])
            elif frame["type"] in ("ack", "error"):
                assert frame["id"] == event_id, frame
                turn.ack = frame
                return turn

    def say(self, text: str, **extra: Any) -> Turn:
        return self.send({"type": "text", "text": text, **extra})

    def choose(self, data: str) -> Turn:
        return self.send({"type": "choice", "data": data})

    def open(self) -> Turn:
        return self.send({"type": "open"})


@pytest.fixture
def runtime(settings: Settings, clock: Clock) -> Runtime:
    return start(settings, clock=clock, rng=random.Random(7))


@pytest.fixture
def browser(runtime: Runtime) -> Iterator[TestClient]:
    """A browser on the served app (the web chat is on: the sandbox is); the app
    closes the runtime when it stops, after every page the test left open."""
    with TestClient(create_app(runtime, retry_every=3600)) as client, ExitStack() as pages:
        client.pages = pages  # type: ignore[attr-defined]
        yield client


def _connect(browser: TestClient) -> Page:
    socket = browser.websocket_connect(SOCKET, headers=ORIGIN)
    browser.pages.enter_context(socket)  # type: ignore[attr-defined]
    first = socket.receive_json()
    assert first["type"] == "history"
    return Page(socket, first["entries"])


def _load(browser: TestClient) -> str:
    response = browser.get("/")
    assert response.status_code == 200
    return response.text


def _web_conversations(browser: TestClient, runtime: Runtime) -> list[Conversation]:
    async def read() -> list[Conversation]:
        async with runtime.database.transaction() as session:
            query = select(Conversation).where(Conversation.channel == "web")
            return list((await session.scalars(query)).all())

    return browser.portal.call(read)  # type: ignore[union-attr]


def _standalone(secret: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])")


def _enroll(page: Page) -> str:
    """The VISA demo card enrolled from the page; returns the passcode, read from the
    phone pane."""
    opened = page.open()
    assert opened.question["secret"] is True and opened.question["hidden"] is False
    page.say(VISA.number)
    code_question = page.say(VISA.expiry).question
    assert code_question["secret"] is True and code_question["hidden"] is True
    email_question = page.say(VISA.code).question
    assert email_question["hidden"] is False
    page.say(EMAIL)
    password_question = page.choose("newsletter:yes").question
    assert password_question["hidden"] is True  # typed into an input of type password
    page.say(PASSWORD)
    page.say(PASSWORD)
    terms = page.choose("terms:agree")
    assert "confirm:ok" in [choice["data"] for choice in terms.question["choices"]]
    sent = page.choose("confirm:ok")
    (sms,) = sent.phone
    assert sms["kind"] == "sms" and sms["to"].endswith("5678")
    passcode = passcode_in(sms["text"])
    done = page.say(passcode)
    assert done.ack["secret"] is True  # the page puts dots over what was typed
    wallet = [choice["data"] for choice in done.question["choices"]]
    assert "wallet:later" in wallet
    page.choose("wallet:later")
    return passcode


def test_the_usage_graph_is_shown_as_a_picture(browser: TestClient) -> None:
    _load(browser)
    page = _connect(browser)
    _enroll(page)
    graph = page.say("/graph").replies[0]
    image = graph["image"]
    assert image["src"].startswith("data:image/png;base64,")
    assert base64.b64decode(image["src"].split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert image["alt"] and "画像" not in graph["text"]  # not the words-only fallback
    csp = browser.get("/").headers["content-security-policy"]
    assert "img-src 'self' data:" in csp
    page.socket.close()


def test_a_full_enrollment_over_the_socket(browser: TestClient, runtime: Runtime) -> None:
    _load(browser)
    page = _connect(browser)
    assert page.history == []
    passcode = _enroll(page)
    points = page.say("/points")
    assert any("ポイント" in text for text in points.texts)
    page.socket.close()

    (conversation,) = _web_conversations(browser, runtime)
    assert conversation.flow == "member" and conversation.lang == "ja"

    # Every reply reached the page, in the transcript's order, and left the outbox.
    async def stored() -> tuple[list[dict[str, Any]], list[str]]:
        async with runtime.database.transaction() as session:
            entries = await conversations.transcript(session, conversation.id)
            rows = (await session.scalars(select(OutboxMessage))).all()
        return [entry.body for entry in entries if entry.direction == "out"], [
            row.status for row in rows
        ]

    bodies, statuses = browser.portal.call(stored)  # type: ignore[union-attr]
    sent = [frame for frame in page.frames if frame["type"] == "reply"]
    assert len(sent) == len(bodies) and set(statuses) == {"sent"}

    # Nothing secret went back to the page, but the passcode on the phone pane.
    pushed = json.dumps(
        [frame for frame in page.frames if frame["type"] != "phone"], ensure_ascii=False
    )
    for secret in (VISA.number, VISA.number.replace(" ", ""), VISA.code, PASSWORD, passcode):
        assert not _standalone(secret).search(pushed), secret


def test_a_resent_event_is_applied_once(browser: TestClient, runtime: Runtime) -> None:
    _load(browser)
    page = _connect(browser)
    page.open()
    first = page.say(VISA.number, id="card-number-0001")
    assert first.replies
    again = page.say(VISA.number, id="card-number-0001")
    assert again.replies == [] and again.ack["id"] == "card-number-0001"
    page.socket.close()

    # The same id once more after a reconnect, as the page resends what was not acked.
    page = _connect(browser)
    resent = page.say(VISA.number, id="card-number-0001")
    assert resent.replies == []
    expiry = page.say(VISA.expiry)
    assert expiry.question["hidden"] is True  # the security code is asked next

    (conversation,) = _web_conversations(browser, runtime)

    async def inputs() -> list[dict[str, Any]]:
        async with runtime.database.transaction() as session:
            entries = await conversations.transcript(session, conversation.id)
        return [entry.body for entry in entries if entry.direction == "in"]

    said = browser.portal.call(inputs)  # type: ignore[union-attr]
    assert [body for body in said if "text" in body] == [
        {"text": "⟨card:visa:16:luhn-ok⟩"},
        {"text": "⟨expiry:ok⟩"},
    ]


def test_a_binary_frame_is_an_error_and_the_socket_stays_open(
    browser: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    _load(browser)
    page = _connect(browser)
    page.open()
    page.socket.send_bytes(b'{"type": "text", "id": "binary-0001", "text": "hi"}')
    assert page.socket.receive_json() == {"type": "error", "id": None}
    assert page.say("/help").replies  # the same socket goes on
    assert "web chat turn failed" not in caplog.text


def test_replies_queued_while_no_page_is_open_arrive_on_reconnect_in_order(
    browser: TestClient, runtime: Runtime
) -> None:
    _load(browser)
    page = _connect(browser)
    page.open()
    page.socket.close()
    (conversation,) = _web_conversations(browser, runtime)
    user = conversation.user_id

    # Two turns of the chat applied while no page is open (the clock stands still,
    # so the failed sends would wait for their retry without the reconnect).
    async def away() -> None:
        for text in ("/help", VISA.number):
            inbound = Inbound("web", user, f"{user}:{uuid.uuid4().hex}", text=text)
            await runtime.handle(inbound, route={"socket": True})
            await runtime.deliver("web", user)

    browser.portal.call(away)  # type: ignore[union-attr]

    async def queued() -> list[OutboxMessage]:
        async with runtime.database.transaction() as session:
            query = select(OutboxMessage).where(OutboxMessage.status == "pending")
            return list((await session.scalars(query.order_by(OutboxMessage.id))).all())

    waiting = browser.portal.call(queued)  # type: ignore[union-attr]
    assert [row.payload["key"] for row in waiting] == [
        "help.card",
        "ask.card",
        "card.accepted",
        "ask.expiry",
    ]
    # The first failed; the rest wait behind it (a chat's replies leave in order).
    assert (waiting[0].attempts, waiting[0].last_error) == (1, "no page open")

    page = _connect(browser)
    # The history ends before the queued replies, which arrive on their own, in order.
    assert page.history[-1]["from"] == "member" and page.history[-1]["text"] == "••••••"
    assert page.history[-2]["text"] == "/help"
    arrived = [page.socket.receive_json() for _ in waiting]
    assert [frame["type"] for frame in arrived] == ["reply"] * 4
    assert [frame["text"] for frame in arrived] == [
        render(Reply(row.payload["key"], row.payload["params"]), "ja") for row in waiting
    ]
    page.open()  # acked once everything before it is delivered and recorded
    assert browser.portal.call(queued) == []  # type: ignore[union-attr]


def test_a_reload_continues_the_conversation_and_a_forged_cookie_starts_afresh(
    browser: TestClient, runtime: Runtime
) -> None:
    _load(browser)
    page = _connect(browser)
    shown = page.open().texts
    page.say(VISA.number)
    page.say(VISA.expiry)
    page.socket.close()

    # A reload: the same cookie, the conversation so far (the card number as dots).
    _load(browser)
    reloaded = _connect(browser)
    assert [line["text"] for line in reloaded.history if line["from"] == "bot"][:2] == shown
    said = [line["text"] for line in reloaded.history if line["from"] == "member"]
    assert said == ["••••••", "••••••"]  # what the transcript keeps: ⟨card:…⟩, ⟨expiry:ok⟩
    back = reloaded.open()
    assert back.texts[0] == "おかえりなさい。前回の続きから進めます。"
    assert back.question["hidden"] is True  # still at the security code
    reloaded.socket.close()

    (stored,) = [cookie for cookie in browser.cookies.jar if cookie.name == COOKIE]
    cookie = stored.value or ""
    # A cookie changed by hand: the socket refuses it; the page gives a new chat user.
    forged = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    browser.cookies.set(COOKIE, forged, domain=stored.domain)
    with pytest.raises(WebSocketDisconnect) as refused:
        _connect(browser)
    assert refused.value.code == NO_SESSION
    _load(browser)
    assert browser.cookies[COOKIE] not in (cookie, forged)
    stranger = _connect(browser)
    assert stranger.history == []
    assert stranger.open().question["hidden"] is False  # a new chat: the card number
    stranger.socket.close()
    assert len(_web_conversations(browser, runtime)) == 2

    # No cookie at all: refused as well; another site's page: refused before anything.
    browser.cookies.clear()
    with pytest.raises(WebSocketDisconnect) as refused:
        _connect(browser)
    assert refused.value.code == NO_SESSION
    _load(browser)
    with pytest.raises(WebSocketDisconnect) as cross_site:
        browser.websocket_connect(SOCKET, headers={"origin": "https://evil.example"}).__enter__()
    assert cross_site.value.code == 1008


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.inputs: list[dict[str, str | None]] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_script = True
        if tag == "input":
            self.inputs.append(dict(attrs))
        self.inline.extend(name for name, _ in attrs if name.startswith("on"))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


def test_the_page_headers_and_markup(browser: TestClient) -> None:
    response = browser.get("/")
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    cookie = headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http on loopback; over https it is Secure

    tags = _Tags()
    tags.feed(response.text)
    assert tags.inline == []  # no inline script or event handler: the CSP allows none
    assert [script["src"] for script in tags.scripts] == ["/static/web/chat.js"]
    (box,) = tags.inputs
    assert box["type"] == "text" and box["autocomplete"] == "off"
    assert '<html lang="ja">' in response.text
    for asset in ("/static/web/chat.js", "/static/web/chat.css"):
        assert browser.get(asset).status_code == 200

    english = browser.get("/", headers={"accept-language": "en-GB,en;q=0.9,ja;q=0.5"})
    assert '<html lang="ja">' in english.text  # the session keeps the page's language
    toggled = browser.get("/?lang=en")
    assert '<html lang="en">' in toggled.text and "Send" in toggled.text


def test_the_browser_language_and_a_secure_cookie_over_https(runtime: Runtime) -> None:
    with TestClient(create_app(runtime, retry_every=3600), base_url="https://chat.test") as client:
        response = client.get("/", headers={"accept-language": "en-US,en;q=0.8"})
        assert '<html lang="en">' in response.text and "Send" in response.text
        assert "secure" in response.headers["set-cookie"].lower()


def test_the_conversation_takes_the_page_language(browser: TestClient) -> None:
    browser.get("/", headers={"accept-language": "en-GB,en;q=0.9"})
    page = _connect(browser)
    assert page.open().texts[0].startswith("Hello")


def test_no_secret_in_the_history_or_the_page(browser: TestClient) -> None:
    _load(browser)
    page = _connect(browser)
    passcode = _enroll(page)
    page.socket.close()

    html = _load(browser)
    reloaded = _connect(browser)
    given = json.dumps(reloaded.history, ensure_ascii=False) + html
    assert any("Netアンサー" in line["text"] for line in reloaded.history)
    for secret in (VISA.number, VISA.number.replace(" ", ""), VISA.code, PASSWORD, passcode):
        assert not _standalone(secret).search(given), secret
    # The phone pane starts empty after a reload: no old passcode is shown again.
    opened = reloaded.open()
    assert opened.phone == []


async def test_a_socket_through_the_server_outlives_the_read_deadline() -> None:
    """``serve``'s deadline for reading a request ends with the WebSocket upgrade: a
    chat left open longer than it stays open."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})

    config = serving.config(app, host="127.0.0.1", port=0)
    config.http = type("Fast", (serving.ReadDeadline,), {"read_timeout": 0.2})
    config.lifespan = "off"
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as socket:
            await asyncio.sleep(0.6)  # three deadlines
            await socket.send("still here")
            assert await asyncio.wait_for(socket.recv(), timeout=5) == "still here"
    finally:
        server.should_exit = True
        await task


def test_serve_prints_the_page_to_open_and_serves_it(tmp_path: Path) -> None:
    """What ``make run`` starts: the embedded default (SQLite, sandbox) on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "HOME": str(tmp_path)}
    for variable in ("DATABASE_URL", "NETANSWER_KEY_FILE", "NETANSWER_ENV", "WEB_CHAT"):
        env.pop(variable, None)
    command = str(Path(sys.executable).parent / "netanswer-bot")
    worker = subprocess.Popen(
        [command, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.strip() == f"netanswer-bot: web chat at http://127.0.0.1:{port}/ (Ctrl-C stops)"
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            time.sleep(0.1)
        assert page.status_code == 200 and 'id="composer"' in page.text
        assert page.headers["x-frame-options"] == "DENY"
    finally:
        worker.terminate()
        worker.wait(timeout=15)


def test_the_web_chat_is_on_with_the_sandbox_or_when_asked(runtime: Runtime) -> None:
    assert web.enabled({}) and not web.enabled({"NETANSWER_ENV": "production"})
    assert web.enabled({"NETANSWER_ENV": "production", "WEB_CHAT": "1"})
    off = create_app(
        replace(runtime, settings=runtime.settings.with_env(WEB_CHAT="0", SUPPORT_CONSOLE="0"))
    )
    assert [route.path for route in off.routes] == ["/healthz"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="WEB_CHAT must be 1"):
        create_app(replace(runtime, settings=runtime.settings.with_env(WEB_CHAT="maybe")))
