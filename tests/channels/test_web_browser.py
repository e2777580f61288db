"""The web chat in a real browser: Debian's Chromium, headless, driven by Playwright,
against ``netanswer-bot serve`` on loopback with the embedded default (SQLite, sandbox).

Chromium comes from the system (``apt-get install chromium``; ``.ci/run`` installs it
where it is missing); Playwright never downloads a browser here. Without it the test
says so and skips, unless ``REQUIRE_BROWSER=1`` (CI), where it fails instead.
Screenshots go to ``$TEST_ARTIFACTS`` (default ``test-artifacts/``).
"""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright import sync_api

from tests.enroll import EMAIL, PASSWORD, VISA

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
_WAIT_MS = 15_000


def _chromium() -> Path:
    if not CHROMIUM.exists():
        message = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``netanswer-bot serve`` as ``make run`` starts it, in a data folder of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path),
        "HOME": str(tmp_path),
        "NETANSWER_CHECK_FLOOR_MS": "0",
    }
    for variable in ("DATABASE_URL", "NETANSWER_KEY_FILE", "NETANSWER_ENV", "WEB_CHAT"):
        env.pop(variable, None)
    command = str(Path(sys.executable).parent / "netanswer-bot")
    worker = subprocess.Popen(
        [command, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        worker.terminate()
        worker.wait(timeout=15)


@contextmanager
def _phone(server: str) -> Iterator[tuple[sync_api.Page, list[str]]]:
    """A phone-sized page of Debian's Chromium on the chat, and the script errors and
    CSP violations it reports (a test ends expecting none)."""
    executable = _chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, locale="ja-JP")
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(server)
            yield page, errors
        finally:
            browser.close()


def test_an_enrollment_by_clicking_and_typing_in_the_page(server: str) -> None:
    with _phone(server) as (page, errors):
        box = page.locator("#message")

        def settled() -> None:
            page.wait_for_selector("#log[aria-busy=false]", timeout=_WAIT_MS)

        def say(text: str) -> None:
            box.fill(text)
            box.press("Enter")
            settled()

        def press(data: str) -> None:
            page.locator(f'button[data-choice="{data}"]').last.click()
            settled()

        settled()
        assert "Netアンサー" in page.locator(".bubble.bot").first.inner_text()
        say(VISA.number)
        say(VISA.expiry)
        assert box.get_attribute("type") == "password"  # the security code
        say(VISA.code)
        assert box.get_attribute("type") == "text"  # the email
        say(EMAIL)
        # A button by keyboard alone: focused with Tab order, pressed with Enter.
        page.locator('button[data-choice="newsletter:yes"]').last.focus()
        page.keyboard.press("Enter")
        settled()
        assert box.get_attribute("type") == "password"
        say(PASSWORD)
        say(PASSWORD)
        press("terms:agree")
        press("confirm:ok")
        page.wait_for_selector("#phone .phone-text", timeout=_WAIT_MS)
        sms = page.locator("#phone .phone-text").last.inner_text()
        found = re.search(r"\b(\d{6})\b", sms)
        assert found, sms
        passcode = found[1]
        say(passcode)
        press("wallet:later")
        say("/points")
        assert "ポイント" in page.locator(".bubble.bot").last.inner_text()
        page.screenshot(path=str(ARTIFACTS / "web-chat.png"), full_page=True)

        secrets = (VISA.number, VISA.number.replace(" ", ""), VISA.code, PASSWORD, passcode)
        chat = page.locator("#log").inner_html()  # what the member typed shows as dots
        for secret in secrets:
            assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", chat)

        page.reload()
        settled()
        assert page.locator(".bubble.member").count() > 10  # the conversation goes on
        html = page.content()
        for secret in secrets:
            assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", html)
        page.screenshot(path=str(ARTIFACTS / "web-chat-reloaded.png"), full_page=True)
        assert errors == []  # no script error, no CSP violation


def test_card_data_typed_into_the_secure_entry_page_on_a_phone(server: str) -> None:
    """The member opens the page from the chat, types card number, expiry and code on
    a phone-sized screen (the brand named as the number is typed, the code's length
    following it), sends it, and is back in the chat at the next question."""
    with _phone(server) as (page, errors):
        page.wait_for_selector("#log[aria-busy=false]", timeout=_WAIT_MS)
        page.locator('a[data-choice="entry:open"]').last.click()
        page.wait_for_selector("form#entry", timeout=_WAIT_MS)
        page.locator("#card").fill(VISA.number)
        assert "VISA" in page.locator("#brand").inner_text()
        assert page.locator("#code").get_attribute("maxlength") == "3"
        page.locator("#expiry").fill(VISA.expiry)
        page.locator("#code").fill(VISA.code)
        page.screenshot(path=str(ARTIFACTS / "secure-entry.png"), full_page=True)
        page.locator("form#entry button[type=submit]").click()
        page.wait_for_url(server, timeout=_WAIT_MS)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.bubble.bot')].some("
            "b => b.innerText.includes('メールアドレス'))",
            timeout=_WAIT_MS,
        )
        page.screenshot(path=str(ARTIFACTS / "secure-entry-back.png"), full_page=True)
        html = page.content()
        for secret in (VISA.number, VISA.number.replace(" ", ""), VISA.code):
            assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", html)
        assert errors == []  # no script error, no CSP violation
