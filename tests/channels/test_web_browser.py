"""The web chat and the support console in a real browser: Debian's Chromium, headless,
driven by Playwright, against ``netanswer-bot serve`` on loopback with the embedded
default (SQLite, sandbox).

Chromium comes from the system (``apt-get install chromium``; ``.ci/run`` installs it
where it is missing); Playwright never downloads a browser here. Without it the test
says so and skips, unless ``REQUIRE_BROWSER=1`` (CI), where it fails instead.
Screenshots go to ``$TEST_ARTIFACTS`` (default ``test-artifacts/``).
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright import sync_api

from tests.enroll import EMAIL, MASTERCARD, PASSWORD, VISA

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


_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")


def _env(data: Path) -> dict[str, str]:
    """The environment of ``make run``, with a data folder of its own."""
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(data),
        "HOME": str(data),
        "NETANSWER_CHECK_FLOOR_MS": "0",
    }
    for variable in ("DATABASE_URL", "NETANSWER_KEY_FILE", "NETANSWER_ENV", "WEB_CHAT"):
        env.pop(variable, None)
    return env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``netanswer-bot serve`` as ``make run`` starts it, in a data folder of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    worker = subprocess.Popen(
        [_COMMAND, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(tmp_path),
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


AGENT, AGENT_PASSWORD = "walkthrough", "Console-Walk-2026"


def _scripted_enrollment(data: Path, user: str) -> list[str]:
    """A MASTERCARD enrollment typed into ``netanswer-bot chat --json``; returns the
    passcodes the sandbox delivered."""
    chat = subprocess.Popen(
        [_COMMAND, "chat", "--json", "--user", user],
        env=_env(data),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert chat.stdin and chat.stdout
    passcodes: list[str] = []

    def send(**line: str) -> dict[str, object]:
        assert chat.stdin and chat.stdout
        chat.stdin.write(json.dumps(line) + "\n")
        chat.stdin.flush()
        answer: dict[str, object] = json.loads(chat.stdout.readline())
        for message in answer.get("sandbox", []):  # type: ignore[attr-defined]
            passcodes.extend(re.findall(r"\b\d{6}\b", message["text"]))
        return answer

    try:
        for text in ("/start", MASTERCARD.number, MASTERCARD.expiry, MASTERCARD.code, EMAIL):
            send(text=text)
        send(choice="newsletter:no")
        send(text=PASSWORD)
        send(text=PASSWORD)
        send(choice="terms:agree")
        assert send(choice="confirm:ok")["state"] == "otp"
        assert send(text=passcodes[-1])["state"] == "wallet"
        assert send(choice="wallet:later")["state"] == "member"
    finally:
        chat.stdin.close()
        chat.wait(timeout=30)
    return passcodes


def test_an_agent_walks_through_the_support_console(server: str, tmp_path: Path) -> None:
    executable = _chromium()
    shots = ARTIFACTS / "support-console"
    shots.mkdir(parents=True, exist_ok=True)
    added = subprocess.run(
        [_COMMAND, "support", "add-agent", AGENT, "--password-stdin"],
        input=AGENT_PASSWORD + "\n",
        env=_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stderr
    passcodes = _scripted_enrollment(tmp_path, "walkthrough-member")
    secrets = (
        MASTERCARD.number,
        MASTERCARD.number.replace(" ", ""),
        MASTERCARD.code,
        MASTERCARD.pin,
        PASSWORD,
        AGENT_PASSWORD,
        *passcodes,
    )
    served: dict[str, str] = {}  # each page's HTML as the server sent it

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            failed: list[str] = []
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            elsewhere: list[str] = []
            page.on(
                "request",
                lambda r: None if r.url.startswith(server) else elsewhere.append(r.url),
            )

            def visit(name: str, go: Callable[[], object]) -> None:
                with page.expect_response(
                    lambda r: r.request.resource_type == "document" and r.status == 200
                ) as answer:
                    go()
                served[name] = answer.value.text()
                page.wait_for_load_state("load")

            def shoot(name: str) -> None:
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

            visit("signin", lambda: page.goto(server + "support"))
            assert page.url.endswith("/support/signin")
            page.fill("input[name=name]", AGENT)
            page.fill("input[name=password]", AGENT_PASSWORD)
            shoot("signin")
            visit("conversations", lambda: page.click("button:has-text('Sign in')"))
            page.select_option("select[name=outcome]", "completed")
            visit("found", lambda: page.click("button:has-text('Search')"))
            links = page.locator("table a[href^='/support/conversations/']")
            assert links.count() == 1
            shoot("conversations")

            def drawn() -> None:
                page.wait_for_selector("body[data-graph=drawn]", timeout=_WAIT_MS)

            def active() -> list[str]:
                """The states highlighted as where the member was, one per flow's graph."""
                nodes = page.locator("#graph svg g.s_active").all_text_contents()
                return [text.strip() for text in nodes]

            visit("conversation", lambda: links.first.click())
            drawn()
            assert active() == ["member"]  # where the conversation stands now
            shoot("conversation")
            visit("step-1", lambda: page.click("a[href*='?step=1#step-1']"))
            drawn()
            assert active() == ["card"]
            for step, state in ((2, "expiry"), (3, "code")):
                visit(f"step-{step}", lambda: page.click("nav.steps a[rel=next]"))
                drawn()
                assert "Conversation graph at step" in page.inner_text("h3 >> nth=1")
                assert active() == [state], step
            shoot("conversation-step-3")
            replay = "button:has-text('Replay against the current flow')"
            visit("replay", lambda: page.click(replay))
            assert re.search(r"Reproduced: all \d+ steps", page.inner_text(".result"))
            shoot("replay")
            page.go_back()
            drawn()
            with page.expect_download() as download:
                page.click("text=Download the export")
            exported = Path(download.value.path()).read_text(encoding="utf-8")
            rows = [json.loads(line) for line in exported.splitlines()]
            assert rows[0]["direction"] == "in" and rows[0]["text"] == "/start"
            served["export"] = exported

            visit("dashboard", lambda: page.click("nav a:has-text('Dashboard')"))
            for chart in page.locator(".charts img").all():
                chart.scroll_into_view_if_needed()
                page.wait_for_function("image => image.complete", arg=chart.element_handle())
                assert chart.evaluate("image => image.naturalWidth") == 800
            assert "Conversations started: 1 (1 completed," in page.inner_text(".summary")
            shoot("dashboard")
        finally:
            browser.close()

    assert elsewhere == []  # no CDN, no other origin
    assert failed == []
    # Mermaid sets inline style attributes, which the console's CSP refuses (and the
    # browser reports): the graph is coloured by the page's own stylesheet instead.
    assert [e for e in errors if not e.startswith("Applying inline style violates")] == []
    for name, html in served.items():
        for secret in secrets:
            pattern = rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])"
            assert not re.search(pattern, html), (name, secret)
