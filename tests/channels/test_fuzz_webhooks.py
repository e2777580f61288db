# ruff: noqa: F811 (the channel fixtures are imported by name, and tests take them by name)
"""Property-based fuzzing of both webhooks through the served app (issue 12): arbitrary
bytes, broken JSON, and valid bodies with one field at a time replaced by a value of
another type (null, a boolean, a huge number or string, a list, a nested object) or
removed, all carrying the right secret or signature so the parsing really runs. Every
request is answered 200 or a clear 4xx, never 500, nothing is logged at ERROR, and a
valid message sent next still gets its reply (the web chat's socket:
tests/channels/test_fuzz_web.py)."""

import itertools
import logging
import uuid

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

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
    line_stand_in,
    member,
    sign,
    stand_in,
    telegram_settings,
)
from tests.channels.line_stand_in import LineStandIn
from tests.channels.telegram_stand_in import TelegramStandIn
from tests.conftest import Clock
from tests.fuzz import bodies, fuzzing

# Ids in the templates, replaced by fresh ones in each body (so no body is taken for a
# redelivery of an earlier one), of the same length (so cuts and flips keep their place).
_UPDATE_ID = 900_000_001
_EVENT_ID = "01JD" + "9" * 22
_REPLY_TOKEN = "f" * 32
FRESH_NUMBERS = itertools.count(910_000_000)


def _fresh(body: bytes) -> bytes:
    """``body`` with the templates' ids replaced by ids no body had before."""
    number = next(FRESH_NUMBERS)
    body = body.replace(str(_UPDATE_ID).encode(), str(number).encode())
    body = body.replace(_EVENT_ID.encode(), f"01JD{number:022d}".encode())
    return body.replace(_REPLY_TOKEN.encode(), uuid.uuid4().hex.encode())


def _no_error_logged(caplog: pytest.LogCaptureFixture, since: int) -> None:
    records = caplog.records[since:]
    assert not [r for r in records if r.levelno >= logging.ERROR or r.exc_info], [
        r.getMessage()[:200] for r in records
    ]


def _clear(status: int) -> bool:
    return status == 200 or 400 <= status < 500


# Telegram


_TELEGRAM_USER = {
    "id": 5_550_001,
    "is_bot": False,
    "first_name": "Taro",
    "last_name": "Yamada",
    "language_code": "ja",
}
_TELEGRAM_MESSAGE = {
    "message_id": 101,
    "date": 1_795_000_000,
    "chat": {"id": 5_550_001, "type": "private", "first_name": "Taro"},
    "from": _TELEGRAM_USER,
    "text": "hello",
}
#: A member's message and a pressed button, as Telegram sends them (tests/channels/conftest.py).
TELEGRAM_BODIES = bodies({"update_id": _UPDATE_ID, "message": _TELEGRAM_MESSAGE}) | bodies(
    {
        "update_id": _UPDATE_ID,
        "callback_query": {
            "id": "cbq-1",
            "from": _TELEGRAM_USER,
            "chat_instance": "-6170001",
            "data": "confirm:ok",
            "message": {**_TELEGRAM_MESSAGE, "text": "?"},
        },
    }
)


@pytest.fixture
async def telegram_member(member: Member) -> Member:
    await member.say("/start")
    return member


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@fuzzing(60)
@example(body=b"")
@example(body=b"null")
@example(body=b'{"update_id": 1, "message": null}')
@given(body=TELEGRAM_BODIES)
async def test_telegram_answers_any_body_and_the_next_message_still(
    telegram_member: Member,
    client: httpx.AsyncClient,
    stand_in: TelegramStandIn,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    clock.advance(seconds=2)  # a member's pace, well within the rate limit
    body = _fresh(body)
    logged = len(caplog.records)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    answer = await client.post("/webhooks/telegram", content=body, headers=headers)
    assert _clear(answer.status_code), (answer.status_code, body[:200])

    before = len(stand_in.called("sendMessage"))
    await telegram_member.say("/help")
    sent = stand_in.called("sendMessage")[before:]
    assert sent and {str(params["chat_id"]) for params in sent} == {str(telegram_member.user_id)}
    _no_error_logged(caplog, logged)


# LINE


_LINE_USER = "U4af4980629e7c3a2b1d0f5e6a7b8c9d0"  # the friend of tests/channels/conftest.py
_LINE_EVENT = {
    "mode": "active",
    "timestamp": 1_795_000_000_000,
    "source": {"type": "user", "userId": _LINE_USER},
    "webhookEventId": _EVENT_ID,
    "deliveryContext": {"isRedelivery": False},
    "replyToken": _REPLY_TOKEN,
}
_LINE_EVENTS = [
    {"type": "message", "message": {"id": "1", "type": "text", "text": "hello", "quoteToken": "q"}},
    {"type": "postback", "postback": {"data": "confirm:ok"}},
    {"type": "follow", "follow": {"isUnblocked": False}},
    {"type": "unfollow"},
    {"type": "unsend", "unsend": {"messageId": "1"}},
    {"type": "accountLink", "link": {"result": "ok", "nonce": "nonce-1"}},
    {
        "type": "message",
        "message": {
            "id": "2",
            "type": "sticker",
            "quoteToken": "q",
            "packageId": "446",
            "stickerId": "1988",
            "stickerResourceType": "STATIC",
        },
    },
]
#: Each kind of event the bot reads, in a request as LINE sends it.
LINE_BODIES = st.one_of(
    *(
        bodies(
            {
                "destination": "U0123456789abcdef0123456789abcdef",
                "events": [{**event, **_LINE_EVENT}],
            }
        )
        for event in _LINE_EVENTS
    )
)


@pytest.fixture
async def line_friend(friend: Friend) -> Friend:
    await friend.say("/start")
    return friend


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@fuzzing(60)
@example(body=b"")
@example(body=b'{"events": null}')
@example(body=b'{"destination": "U0", "events": [null]}')
@given(body=LINE_BODIES)
async def test_line_answers_any_signed_body_and_the_next_message_still(
    line_friend: Friend,
    line_client: httpx.AsyncClient,
    line_stand_in: LineStandIn,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    clock.advance(seconds=2)
    body = _fresh(body)
    logged = len(caplog.records)
    headers = {"X-Line-Signature": sign(body), "Content-Type": "application/json"}
    answer = await line_client.post("/webhooks/line", content=body, headers=headers)
    assert _clear(answer.status_code), (answer.status_code, body[:200])

    # A follow may be what was sent: the member is welcomed back, and then asked again.
    before = len(line_stand_in.calls)
    good = line_friend.message("/help")
    await line_friend.post(good)
    replies = [call for call in line_stand_in.calls[before:] if call.endpoint == "reply"]
    assert [call.body["replyToken"] for call in replies if call.ok] == [good["replyToken"]]
    _no_error_logged(caplog, logged)
