"""The Telegram channel end to end: webhook in, Bot API stand-in out, on SQLite and
PostgreSQL."""

import asyncio
import json
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from adapters.channels.channel import Outgoing
from bot.config import ConfigError
from bot.engine import Engine
from bot.registry import FLOWS
from bot.runtime import Runtime
from bot.server import create_app
from flows.messages import render
from flows.replies import Reply
from storage import conversations, sandbox
from storage.database import Database
from storage.models import OutboxMessage, ProcessedEvent
from tests.channels.conftest import Member, telegram
from tests.channels.telegram_stand_in import TelegramStandIn
from tests.conftest import Clock
from tests.enroll import answers_to_passcode
from tests.placeholders import as_recorded

CARD = "4980 0012 3456 7000"
EXPIRY = "12/29"
CODE = "123"
PASSWORD = "Sakura2024x"
EMAIL = "taro..yamada.@docomo.ne.jp"


async def _outbox(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.database.transaction() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def _transcript_replies(runtime: Runtime, member: Member) -> list[str]:
    """What the engine answered, rendered, according to the transcript."""
    async with runtime.database.transaction() as session:
        conversation = await conversations.find(session, "telegram", str(member.user_id))
        assert conversation is not None
        entries = await conversations.transcript(session, conversation.id)
    replies = [entry.body for entry in entries if entry.direction == "out"]
    return [render(Reply(body["key"], body["params"]), conversation.lang) for body in replies]


async def _passcode(runtime: Runtime) -> str:
    async with runtime.database.transaction() as session:
        messages = await sandbox.read(session, runtime.vault)
    found = re.search(r"\b(\d{6})\b", messages[-1].text)
    assert found
    return found[1]


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait for something a background task does, for at most five seconds."""
    for _ in range(500):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting")


def _standalone(secret: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])")


async def test_full_enrollment_through_the_webhook(
    member: Member,
    stand_in: TelegramStandIn,
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await member.say("/start")
    await member.say(CARD)
    await member.say(EXPIRY)
    await member.say(CODE)
    await member.say(EMAIL)
    await member.choose("newsletter:yes")
    await member.say(PASSWORD)
    await member.say(PASSWORD)
    await member.choose("terms:agree")
    await member.choose("confirm:ok")
    passcode = await _passcode(runtime)
    await member.say(passcode)
    await member.choose("wallet:later")

    async with runtime.database.transaction() as session:
        conversation = await conversations.find(session, "telegram", str(member.user_id))
    assert conversation is not None and conversation.state == "member"

    # Every reply reached Telegram, in the order the engine wrote it (joined replies
    # separated by a blank line).
    recorded = await _transcript_replies(runtime, member)
    everything = ["\n\n".join(recorded)]
    assert as_recorded(["\n\n".join(stand_in.texts)], everything) == everything
    assert {row.status for row in await _outbox(runtime)} == {"sent"}

    # Messages carrying card data, the password or the passcode were deleted; no other.
    deleted = {int(params["message_id"]) for params in stand_in.called("deleteMessage")}
    secrets = {CARD, CODE, PASSWORD, passcode}
    secret_messages = {message_id for text, message_id in member.sent if text in secrets}
    assert deleted == secret_messages

    # The bot's messages about card data are protected from forwarding and saving.
    sent = stand_in.called("sendMessage")
    rows = [row for row in await _outbox(runtime) if row.channel == "telegram"]  # not the SMS
    # No two consecutive replies here share protection without one having buttons,
    # so each went alone and the flags line up one for one.
    assert len(sent) == len(rows)
    protected = [params.get("protect_content") == "true" for params in sent]
    assert protected == [row.payload["sensitive"] for row in rows]
    protected_keys = {row.payload["key"] for row in rows if row.payload["sensitive"]}
    assert protected_keys == {
        "ask.card",
        "card.accepted",
        "ask.code",
        "ask.password",
        "ask.repeat",
        "ask.otp",
    }

    # Choices arrive as inline keyboards; every pressed button was answered.
    keyboards = [
        params["reply_markup"]["inline_keyboard"] for params in sent if "reply_markup" in params
    ]
    offered = {row[0]["callback_data"] for keyboard in keyboards for row in keyboard}
    assert {"newsletter:yes", "terms:agree", "confirm:ok", "wallet:later"} <= offered
    assert len(stand_in.called("answerCallbackQuery")) == 4

    # No secret in anything sent to Telegram, nor in any log line.
    outgoing = json.dumps([call.params for call in stand_in.calls], ensure_ascii=False)
    for secret in (CARD, CARD.replace(" ", ""), PASSWORD, passcode, CODE):
        assert not _standalone(secret).search(outgoing), secret
        assert not _standalone(secret).search(caplog.text), secret


async def test_commands_and_token_are_checked_at_start_up(
    app: Starlette, stand_in: TelegramStandIn
) -> None:
    assert stand_in.called("getMe")
    menus = {
        params.get("language_code"): params["commands"]
        for params in stand_in.called("setMyCommands")
    }
    assert set(menus) == {None, "en"}
    for commands in menus.values():
        assert [command["command"] for command in commands] == [
            "home",
            "statement",
            "points",
            "payment",
            "limit",
            "graph",
            "apply",
            "language",
            "unlink",
            "menu",
            "start",
            "cancel",
            "help",
        ]
    assert menus[None][0]["description"] != menus["en"][0]["description"]


async def test_wrong_or_missing_secret_is_refused_and_changes_nothing(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime
) -> None:
    for secret in ("wrong-secret", None, ""):
        response = await member.post(member.message("/start"), secret=secret)
        assert response.status_code == 403
    assert stand_in.called("sendMessage") == []
    async with runtime.database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
        assert await conversations.find(session, "telegram", str(member.user_id)) is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"message": {}}',
        b'{"update_id": "1"}',
        b'{"update_id": 1, "message": "hello"}',
        b'{"update_id": 1, "message": {"message_id": 1}}',
    ],
)
async def test_malformed_body_gets_400(
    client: httpx.AsyncClient, stand_in: TelegramStandIn, body: bytes
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": "webhook-Secret_0123456789"}
    response = await client.post("/webhooks/telegram", content=body, headers=headers)
    assert response.status_code == 400
    assert stand_in.called("sendMessage") == []


async def test_replayed_update_is_answered_once(member: Member, stand_in: TelegramStandIn) -> None:
    update = member.message("/start")
    for _ in range(3):
        assert (await member.post(update)).status_code == 200
    assert len(stand_in.texts) == 2  # the welcome and the card question, once


async def test_failed_send_stays_queued_and_is_retried_in_order(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime, app: Starlette, clock: Clock
) -> None:
    stand_in.fail("sendMessage", 500)
    await member.say("/start")
    assert stand_in.texts == []  # the first message failed; the second was not sent
    first, second = await _outbox(runtime)
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, "NetworkError")
    assert (second.status, second.attempts) == ("pending", 1)  # one batch, one outcome

    await runtime.dispatcher.deliver_due()
    assert stand_in.texts == []  # not due yet: backing off

    clock.advance(seconds=2)
    await runtime.dispatcher.deliver_due()
    recorded = await _transcript_replies(runtime, member)
    assert as_recorded(stand_in.texts, recorded) == recorded
    assert [row.status for row in await _outbox(runtime)] == ["sent", "sent"]


async def test_rate_limit_answer_is_honoured(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime, app: Starlette, clock: Clock
) -> None:
    stand_in.fail("sendMessage", 429, retry_after=7)
    await member.say("/start")
    first, _ = await _outbox(runtime)
    assert first.last_error == "RetryAfter"

    clock.advance(seconds=6)
    await runtime.dispatcher.deliver_due()
    assert stand_in.texts == []
    clock.advance(seconds=1)
    await runtime.dispatcher.deliver_due()
    assert len(stand_in.texts) == 2


async def test_a_rate_limit_midway_sends_the_batch_again_after_the_wait(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime, app: Starlette, clock: Clock
) -> None:
    await member.say("/start")
    stand_in.calls.clear()
    stand_in.fail("sendMessage", 429, retry_after=3, after=1)
    await member.say(CARD)  # "card accepted" goes; the expiry question is refused
    accepted, question = (await _outbox(runtime))[-2:]
    assert (accepted.status, question.status) == ("pending", "pending")
    assert len(stand_in.texts) == 1
    clock.advance(seconds=2)
    await runtime.dispatcher.deliver_due()
    assert len(stand_in.texts) == 1  # Telegram's wait is kept
    clock.advance(seconds=1)
    await runtime.dispatcher.deliver_due()
    # At least once: the batch is sent again from its first message, in order.
    shown = [render(Reply("ask.expiry"), "ja")]
    assert stand_in.texts[1:] == [stand_in.texts[0], *shown]
    assert [row.status for row in await _outbox(runtime)] == ["sent"] * 4


async def test_a_turns_plain_lines_go_out_as_one_message(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime
) -> None:
    await member.say("/start")
    await member.say(CARD)
    before = len(stand_in.texts)
    await member.say("13/99")  # a month that does not exist: the error, then the question
    error, question = (await _outbox(runtime))[-2:]
    assert (error.payload["key"], question.payload["key"]) == ("expiry.month", "ask.expiry")
    assert stand_in.texts[before:] == [
        render(Reply("expiry.month"), "ja") + "\n\n" + render(Reply("ask.expiry"), "ja")
    ]
    assert {error.status, question.status} == {"sent"}


async def test_a_question_with_buttons_is_its_own_message(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime
) -> None:
    await _enroll(member, runtime)
    before = len(stand_in.called("sendMessage"))
    await member.say("/home")
    answer, question = stand_in.called("sendMessage")[before:]
    assert "reply_markup" not in answer
    assert answer["text"].startswith("次回のお支払い")
    assert question["reply_markup"]["inline_keyboard"]
    rows = await _outbox(runtime)
    assert question["text"] == render(Reply("ask.member", rows[-1].payload["params"]), "ja")


async def test_a_turn_longer_than_a_message_is_split_where_lines_end(
    runtime: Runtime, stand_in: TelegramStandIn, app: Starlette
) -> None:
    lines = "\n".join(f"2026-10-{day % 28 + 1:02} お買い物 {day:04} ¥1,000" for day in range(400))
    statement = Reply(
        "member.statement",
        {"month": "2026年10月", "page": 1, "pages": 1, "lines": lines, "total": "¥400,000"},
    )
    question = Reply("ask.expiry")
    channel = telegram(runtime)
    route = {"chat_id": 5550001}
    await channel.send(
        [
            Outgoing(1, "5550001", route, statement, "ja", 0),
            Outgoing(2, "5550001", route, question, "ja", 1),
        ]
    )
    texts = stand_in.texts
    assert len(texts) > 2
    assert all(len(text.encode("utf-16-le")) // 2 <= 4096 for text in texts)
    # Cut where lines end (the line break dropped), the question joined to the last part.
    assert "\n".join(texts) == render(statement, "ja") + "\n\n" + render(question, "ja")
    assert texts[-1].endswith("\n\n" + render(question, "ja"))


async def test_a_line_longer_than_a_message_is_cut_between_characters(
    runtime: Runtime, stand_in: TelegramStandIn, app: Starlette
) -> None:
    line = "😀" * 3000  # two UTF-16 units each: 6000, where Telegram counts 4096 at most
    params = {"month": "2026年10月", "page": 1, "pages": 1, "lines": line, "total": "¥0"}
    statement = Reply("member.statement", params)
    await telegram(runtime).send([Outgoing(1, "5550001", {"chat_id": 5550001}, statement, "ja")])
    texts = stand_in.texts
    assert all(len(text.encode("utf-16-le")) // 2 <= 4096 for text in texts)
    assert "".join(texts).count("😀") == 3000 and "\ufffd" not in "".join(texts)


async def test_only_replies_of_the_same_protection_are_joined(
    runtime: Runtime, stand_in: TelegramStandIn, app: Starlette
) -> None:
    end, route = Reply("member.statement.end"), {"chat_id": 5550001}
    replies = [replace(end, sensitive=True), replace(end, sensitive=True), end]
    await telegram(runtime).send(
        [Outgoing(n, "5550001", route, reply, "ja", n) for n, reply in enumerate(replies)]
    )
    shown = render(end, "ja")
    sent = stand_in.called("sendMessage")
    assert [(params["text"], params.get("protect_content")) for params in sent] == [
        (shown + "\n\n" + shown, "true"),
        (shown, None),
    ]


async def test_a_member_who_blocked_the_bot_is_not_retried_forever(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime
) -> None:
    stand_in.fail("sendMessage", 403)
    await member.say("/start")
    first, _ = await _outbox(runtime)
    assert (first.status, first.last_error) == ("failed", "Forbidden")


async def test_the_retry_loop_of_the_server_resends(
    runtime: Runtime, stand_in: TelegramStandIn, clock: Clock
) -> None:
    async def failure_recorded() -> bool:
        first = (await _outbox(runtime))[0]
        return first.attempts == 1 and first.leased_until is None

    async def delivered() -> bool:
        return len(stand_in.texts) == 2

    app = create_app(runtime, retry_every=0.02, channels=[telegram(runtime)])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            member = Member(client, stand_in)
            stand_in.fail("sendMessage", 500)
            await member.say("/start")
            await _until(failure_recorded)  # by the webhook, or already by the loop
            clock.advance(seconds=2)
            await _until(delivered)
    recorded = await _transcript_replies(runtime, member)
    assert as_recorded(stand_in.texts, recorded) == recorded


async def test_failed_deletion_does_not_stop_the_conversation(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime
) -> None:
    await member.say("/start")
    stand_in.fail("deleteMessage", 400)
    await member.say(CARD)
    assert len(stand_in.texts) == 4
    async with runtime.database.transaction() as session:
        conversation = await conversations.find(session, "telegram", str(member.user_id))
    assert conversation is not None and conversation.state == "expiry"


class _UnreachableIssuer:
    """An issuer gateway whose every call fails, as when its network is down."""

    async def verify_card(self, *args: object) -> None:
        raise ConnectionError("issuer unreachable")

    cardholder = verify_pin = account = verify_card


async def test_a_failed_turn_is_apologised_for_and_redelivery_retries_it(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime
) -> None:
    await member.say("/start")
    await member.say(CARD)
    await member.say(EXPIRY)
    working = runtime.engine.services
    runtime.engine.services = replace(working, issuer=_UnreachableIssuer())
    update = member.message(CODE)
    assert (await member.post(update)).status_code == 200
    assert stand_in.texts[-1] == render(Reply("trouble"), "ja")
    runtime.engine.services = working
    assert (await member.post(update)).status_code == 200  # not used up: handled afresh
    async with runtime.database.transaction() as session:
        conversation = await conversations.find(session, "telegram", str(member.user_id))
    assert conversation is not None and conversation.state == "email"


async def test_english_speakers_are_answered_in_english(
    member: Member, stand_in: TelegramStandIn
) -> None:
    member.language_code = "en-US"
    await member.say("/start")
    assert stand_in.texts[0] == render(Reply("welcome"), "en")


async def test_group_chats_are_not_served(member: Member, stand_in: TelegramStandIn) -> None:
    member.chat_type = "group"
    await member.say("/start")
    assert stand_in.texts == []


async def test_long_polling_feeds_the_same_handler(
    runtime: Runtime, stand_in: TelegramStandIn
) -> None:
    async def delivered() -> bool:
        return len(stand_in.texts) == 2

    async with httpx.AsyncClient() as unused:
        stand_in.updates.append(Member(unused, stand_in).message("/start"))
    polling = runtime.settings.with_env(TELEGRAM_POLLING="1")
    app = create_app(runtime, channels=[telegram(runtime, polling)])
    async with app.router.lifespan_context(app):
        await _until(delivered)
        await asyncio.sleep(0.1)  # a few more polls: the update must not come back
    assert stand_in.called("deleteWebhook")
    assert len(stand_in.texts) == 2
    assert stand_in.texts[0] == render(Reply("welcome"), "ja")


async def test_health_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_health_and_webhook_answer_503_without_a_database(
    runtime: Runtime, stand_in: TelegramStandIn, tmp_path: Path
) -> None:
    gone = Database(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'bot.sqlite3'}")
    engine = Engine(replace(runtime.engine.services, database=gone), runtime.engine.flows)
    cut_off = replace(runtime, database=gone, engine=engine)
    app = create_app(cut_off, channels=[telegram(cut_off)])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            assert (await client.get("/healthz")).status_code == 503
            member = Member(client, stand_in)
            assert (await member.post(member.message("/start"))).status_code == 503
    assert stand_in.called("sendMessage") == []


@pytest.mark.parametrize("secret", [None, "has space", "x" * 257])
def test_webhook_needs_a_well_formed_secret(runtime: Runtime, secret: str | None) -> None:
    settings = runtime.settings.with_env(TELEGRAM_WEBHOOK_SECRET=secret)
    with pytest.raises(ConfigError):
        create_app(replace(runtime, settings=settings))


@pytest.mark.parametrize("pace", ["0", "1001", "fast"])
def test_the_pace_is_a_whole_number_telegram_allows(runtime: Runtime, pace: str) -> None:
    settings = runtime.settings.with_env(TELEGRAM_MESSAGES_PER_SECOND=pace)
    with pytest.raises(ConfigError, match="TELEGRAM_MESSAGES_PER_SECOND must be 1 to 1000"):
        create_app(replace(runtime, settings=settings))


def test_telegram_is_off_without_a_token(runtime: Runtime) -> None:
    settings = runtime.settings.with_env(TELEGRAM_BOT_TOKEN=None, WEB_CHAT="0", SUPPORT_CONSOLE="0")
    app = create_app(replace(runtime, settings=settings))
    assert [route.path for route in app.routes] == ["/healthz"]  # type: ignore[attr-defined]


def test_callback_data_fits_telegram() -> None:
    for flow in FLOWS:
        for choice in (choice for step in flow.steps.values() for choice in step.choices):
            assert 1 <= len(choice.data.encode()) <= 64


async def test_outbox_row_written_with_the_turn(member: Member, runtime: Runtime) -> None:
    await member.say("/start")
    await member.say(CARD)
    rows = await _outbox(runtime)
    assert [row.payload["key"] for row in rows] == [
        "welcome",
        "ask.card",
        "card.accepted",
        "ask.expiry",
    ]
    assert rows[2].payload["sensitive"] is True
    assert rows[0].route == {"chat_id": member.user_id}
    assert all(CARD.replace(" ", "") not in json.dumps(row.payload) for row in rows)


async def _enroll(member: Member, runtime: Runtime) -> None:
    for kind, sent in answers_to_passcode():
        await (member.say(sent) if kind == "text" else member.choose(sent))
    await member.say(await _passcode(runtime))
    await member.choose("wallet:later")


@pytest.mark.parametrize("language_code", ["ja", "en"])
async def test_the_usage_graph_is_uploaded_as_a_photo_with_its_text(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime, language_code: str
) -> None:
    member.language_code = language_code
    await _enroll(member, runtime)
    asked = len(stand_in.texts)
    await member.say("/graph")

    (photo,) = [call for call in stand_in.calls if call.method == "sendPhoto"]
    assert photo.ok and photo.content_type.startswith("multipart/form-data")
    png = photo.params["photo"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    chart, question = (await _outbox(runtime))[-2:]
    assert chart.payload["key"] == "member.graph" and "image" in chart.payload
    assert {chart.status, question.status} == {"sent"}
    lang = "en" if language_code == "en" else "ja"
    shown = Reply(chart.payload["key"], chart.payload["params"])
    assert photo.params["caption"] == render(shown, lang)  # the text, no words for the picture
    assert ("6-month total" if lang == "en" else "6か月の合計") in photo.params["caption"]
    # The question and its buttons follow as a message, in order after the photo.
    assert stand_in.texts[asked:] == [render(Reply("ask.member", question.payload["params"]), lang)]
    assert stand_in.calls.index(photo) < len(stand_in.calls) - 1


async def test_a_bot_api_that_never_answers_times_the_send_out() -> None:
    """The send's own HTTP client (aiohttp) honours python-telegram-bot's timeouts: a Bot
    API that takes the request and never answers fails it as TimedOut, in time."""
    from telegram.error import TimedOut

    from adapters.channels.telegram import _Requests

    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    requests = _Requests()
    await requests.initialize()
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimedOut):
            await requests.post(
                f"http://127.0.0.1:{port}/bot1:x/sendMessage", read_timeout=0.3, write_timeout=0.3
            )
        assert asyncio.get_running_loop().time() - started < 3
    finally:
        await requests.shutdown()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_an_unreachable_bot_api_is_a_network_error() -> None:
    from telegram.error import NetworkError, TimedOut

    from adapters.channels.telegram import _Requests

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    requests = _Requests()
    try:
        with pytest.raises(NetworkError) as raised:
            await requests.post(f"http://127.0.0.1:{port}/bot1:x/getMe")
        assert not isinstance(raised.value, TimedOut)
        assert "aiohttp.ClientConnectorError" in str(raised.value)
    finally:
        await requests.shutdown()


async def test_sends_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTP(S)_PROXY applies to the replies as it does to LINE's SDK (a bank's egress
    proxy): the request reaches the proxy, never the Bot API's name directly."""
    from adapters.channels.telegram import _Requests

    seen: list[str] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await reader.readline()).decode().strip())
        body = b'{"ok":true,"result":true}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    requests = _Requests()
    await requests.initialize()
    try:
        assert await requests.post("http://api.telegram.invalid/bot1:x/getMe") is True
        assert seen == ["POST http://api.telegram.invalid/bot1:x/getMe HTTP/1.1"]
    finally:
        await requests.shutdown()
        server.close()
        await server.wait_closed()
