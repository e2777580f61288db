"""The secure-entry page from the web chat: offered at every step that takes card
data, a PIN or a password, opened in place, usable once by this browser only, for
10 minutes, at that step; what it takes goes in as if typed and is kept nowhere."""

import json
import logging
import random
import re
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from adapters.channels.channel import ENTRY_CHOICE
from bot.config import Settings
from bot.runtime import Runtime, start
from bot.server import create_app
from storage.models import Conversation, EntryToken, OutboxMessage, TranscriptEntry
from tests.channels.test_web import ORIGIN, Page, _connect, _load
from tests.conftest import Clock
from tests.enroll import EMAIL, PASSWORD, VISA

SECRETS = (VISA.number, VISA.number.replace(" ", ""), VISA.code, PASSWORD)


@pytest.fixture
def runtime(settings: Settings, clock: Clock) -> Runtime:
    return start(settings, clock=clock, rng=random.Random(7))


@pytest.fixture
def browser(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, retry_every=3600)) as client, ExitStack() as pages:
        client.pages = pages  # type: ignore[attr-defined]
        yield client


def _entry(question: dict[str, Any]) -> str:
    """The address of the question's secure-entry button, first in line."""
    first = question["choices"][0]
    assert first["data"] == ENTRY_CHOICE and first["label"] == "安全な入力画面で入力する"
    return str(first["url"])


def _form(browser: TestClient, address: str) -> dict[str, str]:
    """The page's hidden fields, as the browser would post them back."""
    shown = browser.get(address)
    assert shown.status_code == 200, shown.text
    fields = dict(re.findall(r'name="(csrf|token)" value="([^"]*)"', shown.text))
    assert len(fields["csrf"]) == 64 and fields["token"] in address
    return fields


def _post(browser: TestClient, form: dict[str, str], **headers: str) -> Any:
    return browser.post("/entry", data=form, headers={**ORIGIN, **headers}, follow_redirects=False)


def _stored(browser: TestClient, runtime: Runtime) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with runtime.database.transaction() as session:
            return {
                "conversations": list((await session.scalars(select(Conversation))).all()),
                "transcript": [
                    entry.body for entry in await session.scalars(select(TranscriptEntry))
                ],
                "outbox": [row.payload for row in await session.scalars(select(OutboxMessage))],
                "tokens": list((await session.scalars(select(EntryToken))).all()),
            }

    return browser.portal.call(read)  # type: ignore[union-attr,no-any-return]


def _state(browser: TestClient, runtime: Runtime) -> str:
    (conversation,) = _stored(browser, runtime)["conversations"]
    return str(conversation.state)


def _opened(browser: TestClient) -> tuple[Page, str]:
    _load(browser)
    page = _connect(browser)
    return page, _entry(page.open().question)


def test_the_card_page_takes_number_expiry_and_code_as_if_typed(
    browser: TestClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page, address = _opened(browser)
    shown = browser.get(address)
    headers = shown.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "form-action 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert [name for name in ("card", "expiry", "code") if f'name="{name}"' in shown.text] == [
        "card",
        "expiry",
        "code",
    ]
    form = _form(browser, address)
    sent = _post(browser, {**form, "card": VISA.number, "expiry": VISA.expiry, "code": VISA.code})
    assert sent.status_code == 303 and sent.headers["location"] == "/"
    assert _state(browser, runtime) == "email"

    # The chat goes on: the replies of the three answers reach the open page.
    replies: list[dict[str, Any]] = []
    while not replies or "メールアドレス" not in replies[-1]["text"]:
        frame = page.socket.receive_json()
        if frame["type"] == "reply":
            replies.append(frame)
    stored = _stored(browser, runtime)
    typed = [body for body in stored["transcript"] if body.get("entry")]
    assert [body["text"] for body in typed] == [
        "⟨card:visa:16:luhn-ok⟩",
        "⟨expiry:ok⟩",
        "⟨cvc:3:match⟩",
    ]
    kept = json.dumps(
        [stored["transcript"], stored["outbox"], caplog.text, replies], ensure_ascii=False
    )
    for secret in SECRETS:
        assert secret not in kept
    page.socket.close()


def test_a_used_an_expired_a_superseded_and_an_unknown_token_change_nothing(
    browser: TestClient, runtime: Runtime, clock: Clock
) -> None:
    page, address = _opened(browser)
    form = _form(browser, address)
    values = {"card": VISA.number, "expiry": VISA.expiry, "code": VISA.code}
    assert _post(browser, {**form, **values}).status_code == 303
    again = _post(browser, {**form, **values})
    assert again.status_code == 410 and "使えません" in again.text
    assert browser.get(address).status_code == 410
    assert _state(browser, runtime) == "email"

    page.say(EMAIL)
    question = page.choose("newsletter:no").question
    later = _entry(question)
    later_form = _form(browser, later)
    clock.advance(minutes=10, seconds=1)
    late = _post(browser, {**later_form, "password": PASSWORD, "repeat": PASSWORD})
    assert late.status_code == 410
    assert _state(browser, runtime) == "password"
    clock.advance(minutes=-10, seconds=-1)
    asked_again = page.say("/help").question  # the question again, with a new page
    assert _entry(asked_again) != later
    assert browser.get(later).status_code == 410  # the older page is gone
    assert browser.get(_entry(asked_again)).status_code == 200
    forged = dict(later_form, token="x" * 43)
    # A made-up token has no CSRF token that fits it (they are bound by a server key).
    assert _post(browser, {**forged, "password": PASSWORD}).status_code == 403
    assert browser.get("/entry?token=").status_code == 410
    page.socket.close()


def test_another_browser_cross_site_posts_and_a_missing_csrf_token_are_refused(
    browser: TestClient, runtime: Runtime
) -> None:
    page, address = _opened(browser)
    form = _form(browser, address)
    values = {"card": VISA.number, "expiry": VISA.expiry, "code": VISA.code}
    with TestClient(browser.app) as other:
        other.get("/")  # a session of its own
        refused = other.post(
            "/entry", data={**form, **values}, headers=ORIGIN, follow_redirects=False
        )
        assert refused.status_code == 403 and "確認できませんでした" in refused.text
    assert _post(browser, {**form, **values}, origin="https://evil.example").status_code == 403
    assert _post(browser, {**dict(form, csrf="wrong"), **values}).status_code == 403
    sent_by_a_frame = {"origin": "null", "sec-fetch-site": "cross-site"}
    assert _post(browser, {**form, **values}, **sent_by_a_frame).status_code == 403
    assert _state(browser, runtime) == "card"
    # Refusals spent nothing: the member's own submission still goes through, sent as
    # a browser sends it from a no-referrer page (no origin named).
    as_sent = {"origin": "null", "sec-fetch-site": "same-origin"}
    assert _post(browser, {**form, **values}, **as_sent).status_code == 303
    assert _state(browser, runtime) == "email"
    page.socket.close()


def test_a_refused_card_stops_there_and_a_new_page_is_offered(
    browser: TestClient, runtime: Runtime
) -> None:
    page, address = _opened(browser)
    form = _form(browser, address)
    wrong = "4980 0012 3456 7001"  # fails the Luhn check
    assert _post(browser, {**form, "card": wrong, "expiry": VISA.expiry, "code": VISA.code})
    replies: list[dict[str, Any]] = []
    while not replies or not replies[-1]["choices"]:
        frame = page.socket.receive_json()
        if frame["type"] == "reply":
            replies.append(frame)
    assert _state(browser, runtime) == "card"  # the expiry and code went nowhere
    fresh = _entry(replies[-1])
    assert parse_qs(urlsplit(fresh).query)["token"] != parse_qs(urlsplit(address).query)["token"]
    stored = _stored(browser, runtime)
    assert [body["text"] for body in stored["transcript"] if body.get("entry")] == [
        "⟨card:invalid⟩"
    ]
    assert len(stored["tokens"]) == 2 and stored["tokens"][0].used_at is not None
    page.socket.close()


def test_a_page_for_an_earlier_step_is_gone_once_the_chat_moved_on(
    browser: TestClient, runtime: Runtime
) -> None:
    page, address = _opened(browser)
    form = _form(browser, address)
    page.say(VISA.number)  # typed in the chat after all
    stale = _post(browser, {**form, "card": VISA.number, "expiry": VISA.expiry})
    assert stale.status_code == 410
    assert _state(browser, runtime) == "expiry"
    page.socket.close()


def test_both_passwords_on_one_page_and_the_text_box_still_works(
    browser: TestClient, runtime: Runtime
) -> None:
    page, _ = _opened(browser)
    page.say(VISA.number)
    page.say(VISA.expiry)
    page.say(VISA.code)
    page.say(EMAIL)
    address = _entry(page.choose("newsletter:no").question)
    assert 'name="repeat"' in browser.get(address).text
    form = _form(browser, address)  # the newest page's CSRF token is the one that holds
    sent = _post(browser, {**form, "password": PASSWORD, "repeat": PASSWORD})
    assert sent.status_code == 303
    assert _state(browser, runtime) == "terms"
    stored = _stored(browser, runtime)
    assert [body["text"] for body in stored["transcript"] if body.get("entry")] == [
        "⟨password:11:ok⟩",
        "⟨password:match⟩",
    ]
    page.socket.close()


def test_a_sign_in_password_and_a_pin_go_through_the_page(
    browser: TestClient, runtime: Runtime
) -> None:
    page, _ = _opened(browser)
    page.choose("welcome:signin")
    address = _entry(page.say("saisonvisa33").question)
    form = _form(browser, address)
    assert _post(browser, {**form, "password": "Kumo-Sora2030"}).status_code == 303
    assert _state(browser, runtime) == "signin_otp"
    address = _entry(page.choose("otp:pin").question)
    assert 'name="pin"' in browser.get(address).text
    form = _form(browser, address)
    assert _post(browser, {**form, "pin": "3333"}).status_code == 303  # the card's PIN
    (conversation,) = _stored(browser, runtime)["conversations"]
    assert conversation.flow == "member"
    texts = json.dumps(_stored(browser, runtime)["transcript"], ensure_ascii=False)
    assert "Kumo-Sora2030" not in texts and "3333" not in texts
    page.socket.close()


def test_a_turn_that_fails_leaves_the_page_usable(
    browser: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    page, address = _opened(browser)
    form = _form(browser, address)
    handlers = runtime.engine.flows["enrollment"].by_state
    card = handlers["card"]

    async def broken(turn: Any, text: str) -> Any:
        raise RuntimeError("the issuer's library broke")

    monkeypatch.setitem(handlers, "card", broken)
    failed = _post(browser, {**form, "card": VISA.number, "expiry": VISA.expiry})
    assert failed.status_code == 500 and "受け付けられませんでした" in failed.text
    assert VISA.number not in failed.text
    assert _state(browser, runtime) == "card"
    monkeypatch.setitem(handlers, "card", card)
    values = {"card": VISA.number, "expiry": VISA.expiry, "code": VISA.code}
    assert _post(browser, {**form, **values}).status_code == 303  # the same page, again
    assert _state(browser, runtime) == "email"
    page.socket.close()


def test_pages_after_old_tokens_were_pruned_still_go_in(
    browser: TestClient, runtime: Runtime, clock: Clock
) -> None:
    """Event ids of the page's answers are remembered for days, token rows for minutes:
    a page made after a prune (its row id reused by SQLite) is not taken for a repeat."""
    page, address = _opened(browser)
    form = _form(browser, address)
    values = {"card": VISA.number, "expiry": VISA.expiry, "code": VISA.code}
    assert _post(browser, {**form, **values}).status_code == 303
    clock.advance(minutes=21)
    browser.portal.call(runtime.engine.prune_events)  # type: ignore[union-attr]
    assert _stored(browser, runtime)["tokens"] == []
    page.say(EMAIL)
    address = _entry(page.choose("newsletter:no").question)
    form = _form(browser, address)
    assert _post(browser, {**form, "password": PASSWORD, "repeat": PASSWORD}).status_code == 303
    assert _state(browser, runtime) == "terms"
    page.socket.close()
