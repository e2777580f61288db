"""The secure-entry page opened from Telegram (a Mini App: its signed ``initData``
proves the user) and from LINE (a LIFF app: LINE Login says whose access token it
is), against the local stand-ins of both platforms; and never offered in the terminal."""

import asyncio
import hashlib
import hmac
import json
import logging
import random
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from adapters.channels.channel import ENTRY_CHOICE
from bot.config import Settings
from bot.runtime import Runtime, start
from bot.server import create_app
from storage.models import Conversation, OutboxMessage, TranscriptEntry
from tests.channels.conftest import (
    LINE_SECRET,
    PUBLIC_URL,
    SECRET,
    Friend,
    Member,
)
from tests.channels.line_stand_in import LOGIN_CHANNEL_ID, LineStandIn
from tests.channels.line_stand_in import TOKEN as LINE_TOKEN
from tests.channels.telegram_stand_in import TOKEN, TelegramStandIn
from tests.channels.test_replay_channels import _passcode, _reproduces
from tests.conftest import Chat, Clock
from tests.enroll import EMAIL, PASSWORD, VISA

LIFF_ID = "1657000001-AbCdEfGh"
SECRETS = (VISA.number, VISA.number.replace(" ", ""), VISA.code, PASSWORD)
ORIGIN = {"origin": PUBLIC_URL}


async def _page_client(app: Starlette) -> httpx.AsyncClient:
    """The member's in-app browser: the page at PUBLIC_URL (https, so the Secure cookie
    travels)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL)


async def _form(browser: httpx.AsyncClient, address: str) -> dict[str, str]:
    shown = await browser.get(address)
    assert shown.status_code == 200, shown.text
    fields = dict(re.findall(r'name="(csrf|token)" value="([^"]*)"', shown.text))
    assert not browser.cookies  # the CSRF token is bound to the page's token, no cookie
    return fields


async def _stored(runtime: Runtime) -> tuple[Conversation, list[dict[str, Any]], str]:
    async with runtime.database.transaction() as session:
        (conversation,) = (await session.scalars(select(Conversation))).all()
        bodies = [entry.body for entry in await session.scalars(select(TranscriptEntry))]
        outbox = [row.payload for row in await session.scalars(select(OutboxMessage))]
    return conversation, bodies, json.dumps([bodies, outbox], ensure_ascii=False)


def _log_as_served(caplog: pytest.LogCaptureFixture) -> None:
    """Every log line at the level ``netanswer-bot serve -v`` writes (httpx, whose
    request lines carry URLs, at warnings only, as serve sets it)."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")


def _found(secret: str, text: str) -> bool:
    """``secret`` in ``text`` as itself, not inside a longer run of digits or letters."""
    return bool(re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text))


CARD_PAGE = {"card": VISA.number, "expiry": VISA.expiry, "code": VISA.code}


# Telegram


@pytest.fixture
def telegram_settings(settings: Settings, stand_in: TelegramStandIn) -> Settings:
    return settings.with_env(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE_URL=stand_in.base_url,
        PUBLIC_URL=PUBLIC_URL,
    )


def init_data(user_id: int, made: datetime, *, bot_token: str = TOKEN) -> str:
    """``Telegram.WebApp.initData`` as Telegram signs it for the bot with ``bot_token``,
    with every field a Mini App opened from a button gets (several hundred characters)."""
    user = {
        "id": user_id,
        "first_name": "太郎",
        "last_name": "山田",
        "username": "taro_yamada",
        "language_code": "ja",
        "allows_write_to_pm": True,
        "photo_url": "https://t.me/i/userpic/320/" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789" * 2,
    }
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")),
        "auth_date": str(int(made.timestamp())),
        "chat_instance": "-6170001234567890123",
        "chat_type": "private",
        "signature": "S" * 86,
    }
    checked = "\n".join(f"{name}={value}" for name, value in sorted(fields.items()))
    key = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(key, checked.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def _mini_app(stand_in: TelegramStandIn) -> str:
    """The path of the Mini App button under the bot's latest question, first in line."""
    markup = stand_in.called("sendMessage")[-1]["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    first = markup["inline_keyboard"][0][0]
    assert first["text"] == "安全な入力画面で入力する" and "callback_data" not in first
    address = urlsplit(first["web_app"]["url"])
    assert f"{address.scheme}://{address.netloc}" == PUBLIC_URL
    return f"{address.path}?{address.query}"


async def test_telegram_takes_the_card_through_a_mini_app_only_from_the_chat_user(
    app: Starlette,
    runtime: Runtime,
    member: Member,
    stand_in: TelegramStandIn,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _log_as_served(caplog)
    await member.say("/start")
    address = _mini_app(stand_in)
    async with await _page_client(app) as browser:
        shown = await browser.get(address)
        assert "https://telegram.org/js/telegram-web-app.js" in shown.text
        assert "script-src 'nonce-" in shown.headers["content-security-policy"]
        form = await _form(browser, address)

        async def send(proof: str) -> httpx.Response:
            return await browser.post(
                "/entry", data={**form, **CARD_PAGE, "proof": proof}, headers=ORIGIN
            )

        now = clock()
        forged = init_data(member.user_id, now, bot_token="999:" + "x" * 35)
        stale = init_data(member.user_id, now - timedelta(minutes=11))
        ahead = init_data(member.user_id, now + timedelta(minutes=5))
        someone_else = init_data(member.user_id + 1, now)
        assert len(init_data(member.user_id, now)) > 512
        for proof in (forged, stale, ahead, someone_else, "", "hash=00&user=%7B%7D"):
            refused = await send(proof)
            assert refused.status_code == 403, proof
        conversation, _, _ = await _stored(runtime)
        assert conversation.state == "card"

        sent = await send(init_data(member.user_id, now))
        assert sent.status_code == 200 and "送信しました" in sent.text
        assert 'data-sent="1"' in sent.text  # the page closes the Mini App
        assert (await send(init_data(member.user_id, now))).status_code == 410
    conversation, bodies, kept = await _stored(runtime)
    assert conversation.state == "email"
    assert [body["text"] for body in bodies if body.get("entry")] == [
        "⟨card:visa:16:luhn-ok⟩",
        "⟨expiry:ok⟩",
        "⟨cvc:3:match⟩",
    ]
    assert "メールアドレス" in stand_in.texts[-1]
    assert not stand_in.called("deleteMessage")  # nothing was typed in the chat
    seen = json.dumps(stand_in.called("sendMessage"), ensure_ascii=False)
    for secret in SECRETS:
        assert not any(_found(secret, text) for text in (kept, seen, caplog.text)), secret


async def test_telegram_offers_no_mini_app_without_an_https_public_url(
    settings: Settings, stand_in: TelegramStandIn, clock: Clock
) -> None:
    plain = settings.with_env(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE_URL=stand_in.base_url,
    )
    bot = await asyncio.to_thread(start, plain, clock=clock, rng=random.Random(7))
    app = create_app(bot, retry_every=3600)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            await Member(client, stand_in).say("/start")
    markup = stand_in.called("sendMessage")[-1]["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert all("web_app" not in row[0] for row in markup["inline_keyboard"])


# LINE


@pytest.fixture
def line_settings(settings: Settings, line_stand_in: LineStandIn) -> Settings:
    return settings.with_env(
        LINE_CHANNEL_SECRET=LINE_SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN,
        LINE_API_BASE_URL=line_stand_in.base_url,
        PUBLIC_URL=PUBLIC_URL,
        LINE_LIFF_ID=LIFF_ID,
        LINE_LOGIN_CHANNEL_ID=LOGIN_CHANNEL_ID,
    )


def _liff(line_stand_in: LineStandIn) -> str:
    """The token of the LIFF button among the quick replies of the latest question."""
    question = line_stand_in.delivered[-1]
    first = question["quickReply"]["items"][0]["action"]
    assert first["type"] == "uri" and first["label"] == "安全な入力画面で入力する"
    address = urlsplit(first["uri"])
    assert f"{address.scheme}://{address.netloc}{address.path}" == f"https://liff.line.me/{LIFF_ID}"
    return address.query.removeprefix("token=")


async def test_line_takes_the_card_through_liff_only_from_the_chat_user(
    line_app: Starlette,
    line_runtime: Runtime,
    friend: Friend,
    line_stand_in: LineStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _log_as_served(caplog)
    await friend.post(friend.follow())
    # No warning before the question: the page keeps the card out of the history.
    assert not any("履歴に残ります" in text for text in line_stand_in.texts)
    token = _liff(line_stand_in)
    async with await _page_client(line_app) as browser:
        # LINE opens the endpoint with the address's query inside liff.state first.
        first = await browser.get(f"/entry?liff.state={quote('?token=' + token)}")
        assert first.status_code == 200 and "static.line-scdn.net/liff" in first.text
        assert LIFF_ID in first.text
        form = await _form(browser, f"/entry?token={token}")

        async def send(proof: str) -> httpx.Response:
            return await browser.post(
                "/entry", data={**form, **CARD_PAGE, "proof": proof}, headers=ORIGIN
            )

        other_user = line_stand_in.liff_token("U" + "0" * 32)
        other_channel = line_stand_in.liff_token(friend.user_id, channel="1657999999")
        lapsed = line_stand_in.liff_token(friend.user_id, expires_in=0)
        for proof in (other_user, other_channel, lapsed, "made-up-token", ""):
            assert (await send(proof)).status_code == 403, proof
        conversation, _, _ = await _stored(line_runtime)
        assert conversation.state == "card"

        own = line_stand_in.liff_token(friend.user_id)
        line_stand_in.fail("verify", 500)  # LINE Login away: refused, the page kept
        assert (await send(own)).status_code == 403
        asked = len(line_stand_in.delivered)
        assert (await send(own)).status_code == 200
        assert (await send(own)).status_code == 410  # used
    conversation, bodies, kept = await _stored(line_runtime)
    assert conversation.state == "email"
    assert next(body["text"] for body in bodies if body.get("entry")) == "⟨card:visa:16:luhn-ok⟩"
    assert not any("履歴に残ります" in text for text in line_stand_in.texts)
    pushed = line_stand_in.called("push")
    assert pushed and all(call.ok for call in pushed)  # no reply token: pushed, each turn
    later = [message["text"] for message in line_stand_in.delivered[asked:]]
    # The questions the page answered at once were not asked in between.
    assert not any(text.startswith(("有効期限", "セキュリティコード")) for text in later), later
    assert "メールアドレス" in later[-1]
    seen = json.dumps([call.body for call in line_stand_in.calls], ensure_ascii=False)
    for secret in SECRETS:
        assert not any(_found(secret, text) for text in (kept, seen, caplog.text)), secret
    assert own not in caplog.text


async def test_line_says_once_after_card_data_typed_in_the_chat_that_it_stays(
    line_app: Starlette, friend: Friend, line_stand_in: LineStandIn
) -> None:
    await friend.post(friend.follow())
    await friend.say(VISA.number)
    await friend.say(VISA.expiry)
    notices = [text for text in line_stand_in.texts if "履歴に残ります" in text]
    assert len(notices) == 1 and "送信取消" in notices[0] and "安全な入力画面" in notices[0]


# The terminal


async def test_the_terminal_is_not_offered_the_page(chat: Chat) -> None:
    question = (await chat.send("/start")).replies[-1]
    assert question.key == "ask.card" and question.secret == "card"
    assert ENTRY_CHOICE not in [choice.data for choice in question.choices]


async def test_a_telegram_enrollment_through_the_page_replays(
    app: Starlette,
    runtime: Runtime,
    member: Member,
    stand_in: TelegramStandIn,
    clock: Clock,
    settings: Settings,
    tmp_path: Path,
) -> None:
    await member.say("/start")
    async with await _page_client(app) as browser:
        address = _mini_app(stand_in)
        form = await _form(browser, address)
        proof = init_data(member.user_id, clock())
        page = {**form, **CARD_PAGE, "proof": proof}
        assert (await browser.post("/entry", data=page, headers=ORIGIN)).status_code == 200
        await member.say(EMAIL)
        await member.choose("newsletter:no")
        address = _mini_app(stand_in)
        form = await _form(browser, address)
        page = {**form, "password": PASSWORD, "repeat": PASSWORD, "proof": proof}
        assert (await browser.post("/entry", data=page, headers=ORIGIN)).status_code == 200
    await member.choose("terms:agree")
    await member.choose("confirm:ok")
    passcode = await _passcode(runtime)
    await member.say(passcode)
    conversation, _, _ = await _stored(runtime)
    assert conversation.state == "wallet"
    await _reproduces(runtime, settings, tmp_path / "entry.jsonl", passcode)
