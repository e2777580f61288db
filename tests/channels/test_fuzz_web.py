# ruff: noqa: F811 (the web chat's fixtures are imported by name, and tests take them by name)
"""Property-based fuzzing of the web chat's WebSocket (issue 12): frames the page would
never send (broken JSON, fields of another type, binary frames) are answered with an
error frame or read as what they are, the socket stays open, and the next message on it
still gets its replies."""

import itertools
import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from adapters.channels.web import SOCKET
from tests.channels.test_web import ORIGIN, _load, browser, runtime  # noqa: F401 (fixtures)
from tests.conftest import Clock
from tests.fuzz import bodies, fuzzing

_EVENT_ID = "event-99999999"  # replaced by a fresh one in each frame
_EVENTS = [
    {"type": "text", "id": _EVENT_ID, "text": "hello"},
    {"type": "choice", "id": _EVENT_ID, "data": "confirm:ok"},
    {"type": "open", "id": _EVENT_ID},
]
#: Frames the page sends, broken: ("text" | "bytes", content).
FRAMES = st.tuples(st.sampled_from(["text", "bytes"]), st.one_of(*(bodies(e) for e in _EVENTS)))
_fresh_numbers = itertools.count(10_000_000)


def _turn(socket: Any, event_id: str) -> list[dict[str, Any]]:
    """The replies to the event ``event_id``, read up to its ack; what earlier frames
    brought is skipped (the socket answers frames in order)."""
    replies: list[dict[str, Any]] = []
    while True:
        frame = socket.receive_json()
        if frame["type"] == "reply":
            replies.append(frame)
        elif frame["type"] in ("ack", "error"):
            assert frame["type"] == "ack" or frame["id"] != event_id, frame
            if frame["id"] == event_id:
                return replies
            replies = []


@pytest.fixture
def page(browser: TestClient) -> TestClient:
    """A browser that loaded the page, so its socket has a session."""
    _load(browser)
    return browser


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@fuzzing(40)
@given(frame=FRAMES)
def test_the_socket_answers_any_frame_and_the_next_message_still(
    page: TestClient, clock: Clock, caplog: pytest.LogCaptureFixture, frame: tuple[str, bytes]
) -> None:
    caplog.set_level(logging.INFO)
    clock.advance(seconds=2)  # a member's pace, well within the rate limit
    logged = len(caplog.records)
    kind, content = frame
    content = content.replace(_EVENT_ID.encode(), f"event-{next(_fresh_numbers)}".encode())
    good = f"event-{next(_fresh_numbers)}"
    with page.websocket_connect(SOCKET, headers=ORIGIN) as socket:
        assert socket.receive_json()["type"] == "history"
        if kind == "bytes":
            socket.send_bytes(content)
        else:  # a browser sends text frames in UTF-8
            socket.send_text(content.decode("utf-8", "replace"))
        socket.send_text(json.dumps({"type": "text", "id": good, "text": "/help"}))
        assert _turn(socket, good)  # on the same socket: it stayed open
    records = caplog.records[logged:]
    assert not [r for r in records if r.levelno >= logging.WARNING or r.exc_info], [
        r.getMessage()[:200] for r in records
    ]
