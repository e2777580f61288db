"""The LINE channel end to end: signed webhooks in, Messaging API stand-in out, on
SQLite and PostgreSQL."""

import json
import logging
import re
import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from adapters.channels.channel import Outgoing
from adapters.channels.line import Line, LineSettings
from bot.config import ConfigError
from bot.runtime import Runtime
from bot.server import create_app
from flows.enrollment import HISTORY_NOTICE
from flows.messages import render
from flows.replies import Choice, Reply, phrase
from storage import conversations, sandbox
from storage.models import Conversation, OutboxMessage, ProcessedEvent
from tests.channels.conftest import LINE_SECRET, Friend, sign
from tests.channels.line_stand_in import LineStandIn
from tests.conftest import Clock
from tests.placeholders import as_recorded

CARD = "4980 0012 3456 7000"
EXPIRY = "12/29"
CODE = "123"
PASSWORD = "Sakura2024x"
EMAIL = "taro..yamada.@docomo.ne.jp"
# Breaks five password rules at once: five problems and the question again.
SIX_REPLIES = "!19850412-09012345678"
CONFIRM_PARAMS = {
    "card": "498000******7000",
    "expiry": "12/29",
    "netid": phrase("value.netid.issued"),
    "emails": "taro@example.com",
    "newsletter": phrase("value.no"),
}


async def _outbox(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.database.transaction() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def _conversation(runtime: Runtime, friend: Friend) -> Conversation:
    async with runtime.database.transaction() as session:
        conversation = await conversations.find(session, "line", friend.user_id)
    assert conversation is not None
    return conversation


async def _transcript(runtime: Runtime, friend: Friend) -> list[tuple[str, dict[str, Any]]]:
    conversation = await _conversation(runtime, friend)
    async with runtime.database.transaction() as session:
        entries = await conversations.transcript(session, conversation.id)
    return [(entry.direction, entry.body) for entry in entries]


async def _transcript_replies(runtime: Runtime, friend: Friend) -> list[str]:
    """What the engine answered, rendered, according to the transcript."""
    conversation = await _conversation(runtime, friend)
    bodies = [body for direction, body in await _transcript(runtime, friend) if direction == "out"]
    return [render(Reply(body["key"], body["params"]), conversation.lang) for body in bodies]


async def _passcode(runtime: Runtime) -> str:
    async with runtime.database.transaction() as session:
        messages = await sandbox.read(session, runtime.vault)
    found = re.search(r"\b(\d{6})\b", messages[-1].text)
    assert found
    return found[1]


def _standalone(secret: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])")


def _notice() -> str:
    return render(Reply(HISTORY_NOTICE), "ja")


async def _to_password(friend: Friend) -> None:
    await friend.post(friend.follow())
    await friend.say(CARD)
    await friend.say(EXPIRY)
    await friend.say(CODE)
    await friend.say(EMAIL)
    await friend.choose("newsletter:no")


async def test_full_enrollment_through_the_webhook(
    friend: Friend,
    line_stand_in: LineStandIn,
    line_runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert (await friend.post(friend.follow())).status_code == 200
    await friend.say(CARD)
    await friend.say(EXPIRY)
    await friend.say(CODE)
    await friend.say(EMAIL)
    await friend.choose("newsletter:yes")
    await friend.say(PASSWORD)
    await friend.say(PASSWORD)
    await friend.choose("terms:agree")
    await friend.choose("confirm:ok")
    passcode = await _passcode(line_runtime)
    await friend.say(passcode)
    await friend.choose("wallet:later")

    assert (await _conversation(line_runtime, friend)).state == "member"

    # Every reply reached LINE, in the order the engine wrote it, each turn with its
    # fresh reply token in one call.
    recorded = await _transcript_replies(line_runtime, friend)
    assert as_recorded(line_stand_in.texts, recorded) == recorded
    assert {row.status for row in await _outbox(line_runtime)} == {"sent"}
    assert line_stand_in.called("push") == []
    assert all(call.ok for call in line_stand_in.called("reply"))
    assert len(line_stand_in.called("reply")) == 12  # one per event

    # The loading animation ran for every message and button press, for this chat.
    loading = line_stand_in.called("loading")
    assert len(loading) == 11
    assert {call.body["chatId"] for call in loading} == {friend.user_id}

    # The card-number notice came once, right before the card question.
    assert line_stand_in.texts.count(_notice()) == 1
    notice_at = line_stand_in.texts.index(_notice())
    assert line_stand_in.texts[notice_at + 1] == render(Reply("ask.card"), "ja")

    # Choices arrive as quick-reply postback buttons showing their label when pressed.
    actions = [
        item["action"]
        for message in line_stand_in.delivered
        for item in message.get("quickReply", {}).get("items", [])
    ]
    offered = {action["data"] for action in actions}
    assert {"newsletter:yes", "terms:agree", "confirm:ok", "wallet:later"} <= offered
    agree = next(action for action in actions if action["data"] == "terms:agree")
    assert agree["displayText"] == agree["label"] == "規約に同意して確認画面へ"

    # No secret in anything sent to LINE, nor in any log line.
    outgoing = json.dumps([call.body for call in line_stand_in.calls], ensure_ascii=False)
    for secret in (CARD, CARD.replace(" ", ""), PASSWORD, passcode, CODE):
        assert not _standalone(secret).search(outgoing), secret
        assert not _standalone(secret).search(caplog.text), secret


@pytest.mark.parametrize(
    "signature",
    [None, "", "bm90IHRoZSBzaWduYXR1cmU=", sign(b"another body"), "other-secret"],
)
async def test_wrong_or_missing_signature_is_refused_and_changes_nothing(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime, signature: str | None
) -> None:
    if signature == "other-secret":
        body = json.dumps({"destination": "U0", "events": [friend.follow()]}).encode()
        signature = sign(body, secret=LINE_SECRET[::-1])
    response = await friend.post(friend.follow(), signature=signature)
    assert response.status_code == 400
    assert line_stand_in.calls == []
    async with line_runtime.database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert await conversations.find(session, "line", friend.user_id) is None


async def test_the_console_verify_request_gets_200(
    line_client: httpx.AsyncClient, line_stand_in: LineStandIn
) -> None:
    body = b'{"destination":"U0123456789abcdef0123456789abcdef","events":[]}'
    response = await line_client.post(
        "/webhooks/line", content=body, headers={"X-Line-Signature": sign(body)}
    )
    assert response.status_code == 200
    assert line_stand_in.calls == []


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"destination": "U0"}', b"\xff\xfe"])
async def test_signed_but_unreadable_body_gets_400(
    line_client: httpx.AsyncClient, line_stand_in: LineStandIn, body: bytes
) -> None:
    response = await line_client.post(
        "/webhooks/line", content=body, headers={"X-Line-Signature": sign(body)}
    )
    assert response.status_code == 400
    assert line_stand_in.calls == []


async def test_redelivered_event_is_answered_once(
    friend: Friend, line_stand_in: LineStandIn
) -> None:
    event = friend.follow()
    assert (await friend.post(event)).status_code == 200
    redelivered = {**event, "deliveryContext": {"isRedelivery": True}}
    for _ in range(2):
        assert (await friend.post(redelivered)).status_code == 200
    assert len(line_stand_in.called("reply")) == 1
    assert len(line_stand_in.texts) == 3  # welcome, the card notice, the card question


async def test_a_refused_reply_token_falls_back_to_push_with_a_retry_key(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime
) -> None:
    line_stand_in.refuse_reply_tokens()
    await friend.post(friend.follow())
    (refused,) = line_stand_in.called("reply")
    (pushed,) = line_stand_in.called("push")
    assert (refused.status, pushed.status) == (400, 200)
    assert pushed.body["to"] == friend.user_id
    assert pushed.retry_key is not None and uuid.UUID(pushed.retry_key)
    recorded = await _transcript_replies(line_runtime, friend)
    assert as_recorded(line_stand_in.texts, recorded) == recorded
    assert {row.status for row in await _outbox(line_runtime)} == {"sent"}


async def test_a_stale_reply_token_is_not_tried_again(
    friend: Friend,
    line_stand_in: LineStandIn,
    line_runtime: Runtime,
    line_app: Starlette,
    clock: Clock,
) -> None:
    line_stand_in.fail("reply", 500)
    await friend.post(friend.follow())
    assert line_stand_in.texts == []
    assert {row.last_error for row in await _outbox(line_runtime)} == {"LINE 500"}

    clock.advance(seconds=60)  # the token is older than LINE honours
    await line_runtime.dispatcher.deliver_due()
    assert len(line_stand_in.called("reply")) == 1
    assert [call.status for call in line_stand_in.called("push")] == [200]
    recorded = await _transcript_replies(line_runtime, friend)
    assert as_recorded(line_stand_in.texts, recorded) == recorded


async def test_a_retried_push_is_accepted_once(
    friend: Friend,
    line_stand_in: LineStandIn,
    line_runtime: Runtime,
    line_app: Starlette,
    clock: Clock,
) -> None:
    line_stand_in.refuse_reply_tokens()
    line_stand_in.lose_answer("push")  # LINE took the push, but the answer never came
    await friend.post(friend.follow())
    assert {row.status for row in await _outbox(line_runtime)} == {"pending"}

    clock.advance(seconds=2)
    await line_runtime.dispatcher.deliver_due()
    first, second = line_stand_in.called("push")
    assert first.retry_key == second.retry_key
    assert (first.status, second.status) == (500, 409)
    assert {row.status for row in await _outbox(line_runtime)} == {"sent"}
    recorded = await _transcript_replies(line_runtime, friend)  # once
    assert as_recorded(line_stand_in.texts, recorded) == recorded


async def test_a_long_turn_is_split_into_calls_of_five(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime
) -> None:
    await _to_password(friend)
    before = len(line_stand_in.texts)
    await friend.say(SIX_REPLIES)

    last_reply = line_stand_in.called("reply")[-1]
    (pushed,) = line_stand_in.called("push")
    assert len(last_reply.body["messages"]) == 5
    assert len(pushed.body["messages"]) == 1 and pushed.retry_key is not None
    assert all(call.ok for call in line_stand_in.calls)  # the used token was not tried again
    assert len(line_stand_in.texts) - before == 6
    recorded = await _transcript_replies(line_runtime, friend)
    assert as_recorded(line_stand_in.texts, recorded) == recorded
    assert line_stand_in.texts[-1] == render(
        Reply("ask.password", {"netid": phrase("value.password.issued")}), "ja"
    )


async def test_follow_greets_and_offers_to_start(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime
) -> None:
    await friend.post(friend.follow())
    assert line_stand_in.texts == [
        render(Reply("welcome"), "ja"),
        _notice(),
        render(Reply("ask.card"), "ja"),
    ]
    assert line_stand_in.called("loading") == []  # nothing to wait for on a follow
    assert (await _conversation(line_runtime, friend)).lang == "ja"


async def test_a_card_number_as_the_very_first_message_is_taken_and_the_notice_given(
    friend: Friend, line_stand_in: LineStandIn
) -> None:
    await friend.say(CARD)  # no follow event came first
    keys = [text[:12] for text in line_stand_in.texts]
    assert line_stand_in.texts[0] == render(Reply("welcome"), "ja")
    assert line_stand_in.texts[1] == _notice()
    assert line_stand_in.texts[-1] == render(Reply("ask.expiry"), "ja"), keys
    await friend.say(EXPIRY)
    assert line_stand_in.texts.count(_notice()) == 1


async def test_a_greeting_as_the_first_message_is_answered_with_the_first_question(
    friend: Friend, line_stand_in: LineStandIn
) -> None:
    await friend.say("こんにちは")
    assert line_stand_in.texts == [
        render(Reply("welcome"), "ja"),
        _notice(),
        render(Reply("ask.card"), "ja"),
    ]


async def test_unfollow_ends_an_unfinished_enrollment_and_wipes_the_card(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime
) -> None:
    await _to_password(friend)
    assert "card_token" in (await _conversation(line_runtime, friend)).slots
    calls = len(line_stand_in.calls)

    assert (await friend.post(friend.unfollow())).status_code == 200
    conversation = await _conversation(line_runtime, friend)
    assert (conversation.state, conversation.slots) == ("closed", {})
    assert len(line_stand_in.calls) == calls  # nothing is said to a member who left
    assert (await _transcript(line_runtime, friend))[-1] == ("in", {"left": True})


async def test_unsend_is_recorded_in_the_transcript(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime
) -> None:
    await friend.post(friend.follow())
    await friend.say(CARD)
    calls = len(line_stand_in.calls)
    card_message = next(message_id for text, message_id in friend.sent if text == CARD)

    assert (await friend.post(friend.unsend(card_message))).status_code == 200
    assert (await _transcript(line_runtime, friend))[-1] == ("in", {"unsent": True})
    assert (await _conversation(line_runtime, friend)).state == "expiry"
    assert len(line_stand_in.calls) == calls


async def test_the_card_notice_is_given_once_per_conversation(
    friend: Friend, line_stand_in: LineStandIn
) -> None:
    await friend.post(friend.follow())
    await friend.say("/start")  # asks for the card number again
    await friend.say("1234")  # wrong: asks again
    assert line_stand_in.texts.count(render(Reply("ask.card"), "ja")) == 3
    assert line_stand_in.texts.count(_notice()) == 1


async def test_failed_loading_animation_does_not_stop_the_turn(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime
) -> None:
    await friend.post(friend.follow())
    line_stand_in.fail("loading", 500)
    await friend.say(CARD)
    assert line_stand_in.texts[-1] == render(Reply("ask.expiry"), "ja")
    assert (await _conversation(line_runtime, friend)).state == "expiry"


async def test_a_sticker_is_answered_with_a_request_for_text(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime
) -> None:
    await friend.post(friend.follow())
    assert (await friend.post(friend.sticker())).status_code == 200
    assert line_stand_in.texts[-2:] == [
        render(Reply("unreadable"), "ja"),
        render(Reply("ask.card"), "ja"),
    ]
    assert ("in", {"unreadable": True}) in await _transcript(line_runtime, friend)


async def test_group_chats_are_not_served(friend: Friend, line_stand_in: LineStandIn) -> None:
    friend.source_type = "group"
    assert (await friend.post(friend.message("こんにちは"))).status_code == 200
    assert line_stand_in.calls == []


class _UnreachableIssuer:
    """An issuer gateway whose every call fails, as when its network is down."""

    async def verify_card(self, *args: object) -> None:
        raise ConnectionError("issuer unreachable")

    cardholder = verify_pin = account = verify_card


async def test_a_failed_turn_is_apologised_for_with_the_reply_token(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime
) -> None:
    await friend.post(friend.follow())
    await friend.say(CARD)
    await friend.say(EXPIRY)
    working = line_runtime.engine.services
    line_runtime.engine.services = replace(working, issuer=_UnreachableIssuer())
    await friend.say(CODE)
    line_runtime.engine.services = working
    assert line_stand_in.texts[-1] == render(Reply("trouble"), "ja")
    assert (await _conversation(line_runtime, friend)).state == "code"


async def test_long_texts_and_labels_are_cut_to_line_limits(
    line_runtime: Runtime, line_stand_in: LineStandIn
) -> None:
    """Through the adapter's sending side; the stand-in refuses anything over LINE's
    limits, so an accepted call is a fitting one."""
    line = Line.configured(line_runtime.settings.environ, line_runtime)
    assert line is not None
    await line.start()
    route = {"reply_token": None, "received_at": "2026-11-24T10:00:00+00:00", "turn": "0" * 32}
    user = "U4af4980629e7c3a2b1d0f5e6a7b8c9d0"
    long_text = Reply("netid.chosen", {"netid": "😀" * 3000})  # 2 UTF-16 units each
    buttons = Reply("ask.confirm", CONFIRM_PARAMS, (Choice("confirm:ok", "choice.confirm.ok"),))
    try:
        await line.send(
            [
                Outgoing(1, user, route, long_text, "en", 0),
                Outgoing(2, user, route, buttons, "en", 1),
            ]
        )
    finally:
        await line.close()
    text, shown = line_stand_in.delivered
    assert len(text["text"].encode("utf-16-le")) // 2 <= 5000 and text["text"].endswith("…")
    action = shown["quickReply"]["items"][0]["action"]
    assert action["label"] == "Continue to identit…"
    assert action["displayText"] == "Continue to identity check"


def test_line_is_off_without_its_credentials(line_runtime: Runtime) -> None:
    settings = line_runtime.settings.with_env(
        LINE_CHANNEL_SECRET=None, LINE_CHANNEL_ACCESS_TOKEN=None, WEB_CHAT="0", SUPPORT_CONSOLE="0"
    )
    app = create_app(replace(line_runtime, settings=settings))
    assert [route.path for route in app.routes] == ["/healthz"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("missing", ["LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN"])
def test_half_a_line_configuration_is_refused(line_runtime: Runtime, missing: str) -> None:
    settings = line_runtime.settings.with_env(**{missing: None})
    with pytest.raises(ConfigError, match=missing):
        create_app(replace(line_runtime, settings=settings))


def test_line_credentials_are_read_from_the_environment_and_never_printed() -> None:
    settings = LineSettings.from_env(
        {
            "LINE_CHANNEL_SECRET": "0123456789abcdef0123456789abcdef",
            "LINE_CHANNEL_ACCESS_TOKEN": "token-xyz",
            "LINE_API_BASE_URL": "http://127.0.0.1:9",
            "PUBLIC_URL": "https://bot.example.jp/",
        }
    )
    assert settings is not None
    secret = "0123456789abcdef0123456789abcdef"
    assert (settings.channel_secret, settings.access_token) == (secret, "token-xyz")
    assert settings.api_base_url == "http://127.0.0.1:9"
    assert settings.public_url == "https://bot.example.jp"
    assert secret not in repr(settings) and "token-xyz" not in repr(settings)
