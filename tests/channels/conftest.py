"""A Telegram member talking to the bot through ``POST /webhooks/telegram``, and a LINE
friend through ``POST /webhooks/line``, each with a local stand-in for the platform's
API on the other side."""

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from adapters.channels.telegram import Telegram
from bot.config import Settings
from bot.runtime import Runtime, start
from bot.server import create_app
from tests.channels.line_stand_in import TOKEN as LINE_TOKEN
from tests.channels.line_stand_in import LineStandIn
from tests.channels.telegram_stand_in import BOT_USER, TOKEN, TelegramStandIn
from tests.conftest import Clock

SECRET = "webhook-Secret_0123456789"
_DATE = 1_795_000_000  # 2026-11-19, seconds since the epoch


@pytest.fixture
def stand_in() -> Iterator[TelegramStandIn]:
    server = TelegramStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def telegram_settings(settings: Settings, stand_in: TelegramStandIn) -> Settings:
    return settings.with_env(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE_URL=stand_in.base_url,
    )


@pytest.fixture
async def runtime(telegram_settings: Settings, clock: Clock) -> AsyncIterator[Runtime]:
    bot = await asyncio.to_thread(start, telegram_settings, clock=clock, rng=random.Random(7))
    yield bot
    await bot.close()


def telegram(runtime: Runtime, settings: Settings | None = None) -> Telegram:
    """The Telegram channel of ``runtime`` (or of ``settings``)."""
    channel = Telegram.configured((settings or runtime.settings).environ, runtime)
    assert channel is not None
    return channel


@pytest.fixture
async def app(runtime: Runtime) -> AsyncIterator[Starlette]:
    """The served app, started; its retry loop sleeps through the test unless asked."""
    app = create_app(runtime, retry_every=3600, channels=[telegram(runtime)])
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        yield client


_update_ids = itertools.count(700_000_001)


def take_update_id() -> int:
    """An update id no update will carry: the next ones follow it."""
    return next(_update_ids)


@dataclass
class Member:
    """One Telegram user in a private chat with the bot, sending realistic updates."""

    client: httpx.AsyncClient
    stand_in: TelegramStandIn
    user_id: int = 5_550_001
    language_code: str = "ja"
    chat_type: str = "private"
    sent: list[tuple[str, int]] = field(default_factory=list)  # (text, message_id)
    _message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(101))

    @property
    def user(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": "Taro",
            "last_name": "Yamada",
            "language_code": self.language_code,
        }

    @property
    def chat(self) -> dict[str, Any]:
        if self.chat_type == "private":
            return {"id": self.user_id, "type": "private", "first_name": "Taro"}
        return {"id": -100_200_300, "type": self.chat_type, "title": "Family"}

    def message(self, text: str) -> dict[str, Any]:
        message_id = next(self._message_ids)
        self.sent.append((text, message_id))
        body: dict[str, Any] = {
            "message_id": message_id,
            "date": _DATE,
            "chat": self.chat,
            "from": self.user,
            "text": text,
        }
        if text.startswith("/"):
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        return {"update_id": next(_update_ids), "message": body}

    def press(self, data: str) -> dict[str, Any]:
        """A button pressed under the bot's latest message."""
        shown = self.stand_in.called("sendMessage")[-1]
        update_id = next(_update_ids)
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cbq-{update_id}",
                "from": self.user,
                "chat_instance": "-6170001",
                "data": data,
                "message": {
                    "message_id": 9_999,
                    "date": _DATE,
                    "chat": self.chat,
                    "from": BOT_USER,
                    "text": shown["text"],
                },
            },
        }

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        return await self.client.post("/webhooks/telegram", json=update, headers=headers)

    async def say(self, text: str) -> httpx.Response:
        response = await self.post(self.message(text))
        assert response.status_code == 200, response.text
        return response

    async def choose(self, data: str) -> httpx.Response:
        response = await self.post(self.press(data))
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
def member(client: httpx.AsyncClient, stand_in: TelegramStandIn) -> Member:
    return Member(client, stand_in)


# LINE

LINE_SECRET = "8c570fa6dd201bb328f1c1eac23a96d8"
PUBLIC_URL = "https://bot.example.jp"
_DESTINATION = "U0123456789abcdef0123456789abcdef"
_line_event_ids = itertools.count(1)


@pytest.fixture
def line_stand_in() -> Iterator[LineStandIn]:
    server = LineStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def line_settings(settings: Settings, line_stand_in: LineStandIn) -> Settings:
    return settings.with_env(
        LINE_CHANNEL_SECRET=LINE_SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN,
        LINE_API_BASE_URL=line_stand_in.base_url,
        PUBLIC_URL=PUBLIC_URL,
    )


@pytest.fixture
async def line_runtime(line_settings: Settings, clock: Clock) -> AsyncIterator[Runtime]:
    bot = await asyncio.to_thread(start, line_settings, clock=clock, rng=random.Random(7))
    yield bot
    await bot.close()


@pytest.fixture
async def line_app(line_runtime: Runtime) -> AsyncIterator[Starlette]:
    app = create_app(line_runtime, retry_every=3600)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def line_client(line_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=line_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        yield client


def sign(body: bytes, secret: str = LINE_SECRET) -> str:
    """X-Line-Signature: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Friend:
    """One LINE user in a one-to-one chat with the bot, sending webhook events shaped
    like the examples of LINE's Messaging API reference."""

    client: httpx.AsyncClient
    user_id: str = "U4af4980629e7c3a2b1d0f5e6a7b8c9d0"
    source_type: str = "user"
    sent: list[tuple[str, str]] = field(default_factory=list)  # (text, message id)
    _message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(468789577898262530))

    @property
    def source(self) -> dict[str, Any]:
        if self.source_type == "user":
            return {"type": "user", "userId": self.user_id}
        group = "Ca56f94637cc4347f90a25382909b24b9"
        return {"type": "group", "groupId": group, "userId": self.user_id}

    def event(self, kind: str, *, reply_token: bool = True, **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": kind,
            "mode": "active",
            "timestamp": 1_795_000_000_000 + next(_line_event_ids),
            "source": self.source,
            "webhookEventId": f"01JD{next(_line_event_ids):022d}",
            "deliveryContext": {"isRedelivery": False},
            **fields,
        }
        if reply_token:
            event["replyToken"] = uuid.uuid4().hex
        return event

    def message(self, text: str) -> dict[str, Any]:
        message_id = str(next(self._message_ids))
        self.sent.append((text, message_id))
        content = {"id": message_id, "type": "text", "text": text, "quoteToken": uuid.uuid4().hex}
        return self.event("message", message=content)

    def sticker(self) -> dict[str, Any]:
        content = {
            "id": str(next(self._message_ids)),
            "type": "sticker",
            "quoteToken": uuid.uuid4().hex,
            "packageId": "446",
            "stickerId": "1988",
            "stickerResourceType": "STATIC",
        }
        return self.event("message", message=content)

    def postback(self, data: str) -> dict[str, Any]:
        return self.event("postback", postback={"data": data})

    def follow(self) -> dict[str, Any]:
        return self.event("follow", follow={"isUnblocked": False})

    def unfollow(self) -> dict[str, Any]:
        return self.event("unfollow", reply_token=False)

    def account_link(self, nonce: str, *, result: str = "ok") -> dict[str, Any]:
        """LINE's event after its account-link dialog; no reply token when it failed."""
        return self.event(
            "accountLink", reply_token=result == "ok", link={"result": result, "nonce": nonce}
        )

    def unsend(self, message_id: str) -> dict[str, Any]:
        return self.event("unsend", reply_token=False, unsend={"messageId": message_id})

    async def post(
        self, *events: dict[str, Any], signature: str | None = "signed"
    ) -> httpx.Response:
        body = json.dumps({"destination": _DESTINATION, "events": list(events)}).encode()
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Line-Signature"] = sign(body) if signature == "signed" else signature
        return await self.client.post("/webhooks/line", content=body, headers=headers)

    async def say(self, text: str) -> httpx.Response:
        response = await self.post(self.message(text))
        assert response.status_code == 200, response.text
        return response

    async def choose(self, data: str) -> httpx.Response:
        response = await self.post(self.postback(data))
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
def friend(line_client: httpx.AsyncClient) -> Friend:
    return Friend(line_client)
