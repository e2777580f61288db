"""A Telegram member talking to the bot through ``POST /webhooks/telegram``, with a
local stand-in for the Bot API on the other side."""

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.config import Settings
from bot.runtime import Runtime, start
from bot.server import create_app
from bot.throttle import Throttle
from tests.channels.telegram_stand_in import BOT_USER, TOKEN, TelegramStandIn
from tests.conftest import Clock

SECRET = "webhook-Secret_0123456789"
UNPACED = Throttle(per_chat=1000, burst=100, overall=10_000)
_DATE = 1_795_000_000  # 2026-11-19, seconds since the epoch


@pytest.fixture
def stand_in() -> Iterator[TelegramStandIn]:
    server = TelegramStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def telegram_settings(settings: Settings, stand_in: TelegramStandIn) -> Settings:
    return replace(
        settings,
        telegram_bot_token=TOKEN,
        telegram_webhook_secret=SECRET,
        telegram_api_base_url=stand_in.base_url,
    )


@pytest.fixture
async def runtime(telegram_settings: Settings, clock: Clock) -> AsyncIterator[Runtime]:
    bot = await asyncio.to_thread(start, telegram_settings, clock=clock, rng=random.Random(7))
    yield bot
    await bot.close()


@pytest.fixture
async def app(runtime: Runtime) -> AsyncIterator[Starlette]:
    """The served app, started; its retry loop sleeps through the test unless asked."""
    app = create_app(runtime, retry_every=3600, telegram_throttle=UNPACED)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        yield client


_update_ids = itertools.count(700_000_001)


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
