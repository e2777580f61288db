# ruff: noqa: F811 (the channel fixtures are imported by name, and tests take them by name)
"""Property-based fuzzing of both webhooks through the served app (issue 12): arbitrary
bytes, broken JSON, and valid bodies with one field at a time replaced by a value of
another type (null, a boolean, a huge number or string, a list, a nested object) or
removed, all carrying the right secret or signature so the parsing really runs. Every
request is answered 200 or a clear 4xx, never 500, nothing is logged at ERROR, and a
valid message sent next still gets its reply."""

import copy
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
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
    runtime,
    sign,
    stand_in,
    telegram_settings,
)
from tests.channels.line_stand_in import LineStandIn
from tests.channels.telegram_stand_in import TelegramStandIn
from tests.conftest import Clock
from tests.fuzz import fuzzing

Path = tuple[str | int, ...]
_GONE = object()  # the field removed instead of replaced

#: Values of every JSON type, and a few a parser may choke on.
_VALUES = st.one_of(
    st.just(_GONE),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 2**63, 10**30, 1.5, -0.0, 1e308, float("nan"), float("inf")]),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=30),
    st.sampled_from(["", "x" * 100_000, "\ud800", "\x00", "１２３", "U" + "f" * 32]),
    st.lists(st.integers() | st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
    st.just({"a": {"b": {"c": [{"d": None}]}}}),
)


def _paths(value: Any, at: Path = ()) -> list[Path]:
    """Every field and list item of a JSON value, outermost first."""
    found = [at] if at else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*at, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*at, index))
    return found


def _replaced(body: Any, path: Path, value: Any) -> Any:
    changed = copy.deepcopy(body)
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    if value is _GONE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return changed


def _bodies(valid: Callable[[], Any]) -> st.SearchStrategy[bytes]:
    """Request bodies made from ``valid()``: one field replaced or removed, the JSON
    cut short or a byte of it changed, or any bytes at all."""
    template = valid()
    mutated = st.builds(
        lambda path, value: json.dumps(_replaced(valid(), path, value)).encode(),
        st.sampled_from(_paths(template)),
        _VALUES,
    )
    text = json.dumps(template).encode()
    cut = st.integers(0, len(text) - 1).map(lambda at: text[:at])
    flipped = st.builds(
        lambda at, byte: text[:at] + bytes([byte]) + text[at + 1 :],
        st.integers(0, len(text) - 1),
        st.integers(0, 255),
    )
    return st.one_of(mutated, mutated, cut, flipped, st.binary(max_size=300))


def _no_error_logged(caplog: pytest.LogCaptureFixture, since: int) -> None:
    records = caplog.records[since:]
    assert not [r for r in records if r.levelno >= logging.ERROR or r.exc_info], [
        r.getMessage()[:200] for r in records
    ]


def _clear(status: int) -> bool:
    return status == 200 or 400 <= status < 500


# Telegram


def _telegram_updates(member: Member) -> st.SearchStrategy[bytes]:
    def message() -> dict[str, Any]:
        return member.message("hello")

    def press() -> dict[str, Any]:
        update = member.message("x")  # a message's shape, turned into a button's
        return {
            "update_id": update["update_id"],
            "callback_query": {
                "id": "cbq-1",
                "from": update["message"]["from"],
                "chat_instance": "-6170001",
                "data": "confirm:ok",
                "message": {**update["message"], "text": "?"},
            },
        }

    return _bodies(message) | _bodies(press)


@pytest.fixture
async def telegram_member(member: Member) -> Member:
    await member.say("/start")
    return member


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@fuzzing(60)
@given(data=st.data())
async def test_telegram_answers_any_body_and_the_next_message_still(
    telegram_member: Member,
    client: httpx.AsyncClient,
    stand_in: TelegramStandIn,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    clock.advance(seconds=2)  # a member's pace, well within the rate limit
    body = data.draw(_telegram_updates(telegram_member), label="body")
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


def _line_bodies(friend: Friend) -> st.SearchStrategy[bytes]:
    def request(event: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        return lambda: {"destination": "U0123456789abcdef0123456789abcdef", "events": [event()]}

    kinds = [
        lambda: friend.message("hello"),
        lambda: friend.postback("confirm:ok"),
        friend.follow,
        friend.unfollow,
        lambda: friend.unsend("468789577898262530"),
        lambda: friend.account_link("nonce-1"),
        friend.sticker,
    ]
    return st.one_of(*(_bodies(request(kind)) for kind in kinds))


@pytest.fixture
async def line_friend(friend: Friend) -> Friend:
    await friend.say("/start")
    return friend


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@fuzzing(60)
@given(data=st.data())
async def test_line_answers_any_signed_body_and_the_next_message_still(
    line_friend: Friend,
    line_client: httpx.AsyncClient,
    line_stand_in: LineStandIn,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    clock.advance(seconds=2)
    body = data.draw(_line_bodies(line_friend), label="body")
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
