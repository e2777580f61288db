"""The support console: agents sign in, find a recorded conversation, read it, replay
it and download its export, read the dashboard; nothing is reachable without signing
in, forms need this origin and their CSRF token, and every agent action lands in the
audit log."""

import asyncio
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from bot import dashboard, support, transcripts
from bot.registry import FLOWS
from bot.runtime import Runtime
from bot.server import create_app
from tests.conftest import Chat, Clock
from tests.enroll import (
    DINERS,
    JCB,
    MASTERCARD,
    MASTERCARD_2,
    PASSWORD,
    VISA,
    enroll,
    to_confirm,
    to_email,
    to_passcode,
)
from tests.test_cli import _COMMAND

ORIGIN = "http://bot.test"
AGENT = "tanaka"
AGENT_PASSWORD = "Support-Desk-2026"

Console = tuple[Runtime, httpx.AsyncClient]


@pytest.fixture
async def console(bot: Runtime) -> AsyncIterator[Console]:
    await support.add_agent(bot, AGENT, AGENT_PASSWORD)
    app = create_app(bot, retry_every=3600)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            yield bot, client


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the page has no form"
    return found[1]


async def _sign_in(
    client: httpx.AsyncClient, name: str = AGENT, password: str = AGENT_PASSWORD
) -> httpx.Response:
    form = await client.get("/support/signin")
    assert form.status_code == 200
    return await client.post(
        "/support/signin",
        data={"csrf": _csrf(form), "name": name, "password": password},
        headers={"Origin": ORIGIN},
    )


async def _recorded(bot: Runtime) -> int:
    chat = Chat(bot)
    await enroll(chat)
    listed = await transcripts.listing(bot.database, FLOWS, bot.engine.services.clock())
    assert [found.outcome.value for found in listed] == ["completed"]
    return listed[0].id


def _actions(rows: list[dict[str, object]]) -> list[object]:
    return [row["action"] for row in rows if row["agent"] == AGENT]


def _no_secret(html: str, *secrets: str) -> None:
    digits = VISA.number.replace(" ", "")
    for secret in (digits, VISA.number, PASSWORD, AGENT_PASSWORD, *secrets):
        assert secret not in html
    assert not re.search(rf"\b{VISA.code}\b|\b{VISA.pin}\b", html)


@pytest.mark.parametrize(
    "path",
    [
        "/support",
        "/support/conversations/1",
        "/support/conversations/1/export",
        "/support/x",
        "/support/static/mermaid.min.js",
        "/support/dashboard",
        "/support/dashboard/daily.png",
    ],
)
async def test_nothing_is_shown_without_signing_in(console: Console, path: str) -> None:
    _, client = console
    answer = await client.get(path)
    assert answer.status_code == 303 and answer.headers["location"] == "/support/signin"
    assert (await client.post("/support/conversations/1/replay")).status_code == 303
    assert (await client.post("/support/signout")).status_code == 303


async def test_a_forged_or_expired_session_cookie_is_no_session(console: Console) -> None:
    bot, client = console
    client.cookies.set("netanswer_support", '{"agent": "tanaka"}', path="/support")
    assert (await client.get("/support")).status_code == 303
    old = URLSafeTimedSerializer(bot.secret("other"), salt="support-session")
    client.cookies.set("netanswer_support", old.dumps({"agent": AGENT}), path="/support")
    assert (await client.get("/support")).status_code == 303


async def test_an_unknown_agent_and_a_wrong_password_look_alike(console: Console) -> None:
    _, client = console
    unknown = await _sign_in(client, name="nobody")
    wrong = await _sign_in(client, password="Not-The-Password-1")
    assert (await _sign_in(client, name="x" * 250)).status_code == 401
    assert unknown.status_code == wrong.status_code == 401
    strip = re.compile(r'value="[^"]*"|nonce="[^"]*"')
    assert strip.sub("", unknown.text) == strip.sub("", wrong.text)
    assert "netanswer_support" not in {cookie.name for cookie in wrong.cookies.jar}
    assert (await client.get("/support")).status_code == 303


async def test_failures_lock_the_agent_name_even_for_the_right_password(
    console: Console,
) -> None:
    _, client = console
    for _ in range(support.FAILURE_LIMIT):
        assert (await _sign_in(client, password="Not-The-Password-1")).status_code == 401
    assert (await _sign_in(client)).status_code == 401
    assert (await client.get("/support")).status_code == 303


async def test_posts_need_this_origin_and_the_form_token(console: Console) -> None:
    bot, client = console
    form = await client.get("/support/signin")
    fields = {"csrf": _csrf(form), "name": AGENT, "password": AGENT_PASSWORD}
    elsewhere = await client.post(
        "/support/signin", data=fields, headers={"Origin": "https://evil.example"}
    )
    no_origin = await client.post("/support/signin", data=fields)
    no_token = await client.post(
        "/support/signin", data={**fields, "csrf": "forged"}, headers={"Origin": ORIGIN}
    )
    assert elsewhere.status_code == no_origin.status_code == no_token.status_code == 403
    assert (await _sign_in(client)).status_code == 303
    page = await client.get("/support")
    replayed = await client.post(
        "/support/conversations/1/replay",
        data={"csrf": _csrf(page)},
        headers={"Origin": "https://evil.example"},
    )
    signed_out = await client.post(
        "/support/signout", data={"csrf": "forged"}, headers={"Origin": ORIGIN}
    )
    assert replayed.status_code == signed_out.status_code == 403
    assert (await client.get("/support")).status_code == 200
    assert _actions(await support.audit_rows(bot.database)) == [
        "support.agent_added",
        "support.signed_in",
    ]


async def test_an_agent_finds_reads_replays_and_exports_a_conversation(
    console: Console,
) -> None:
    bot, client = console
    conversation = await _recorded(bot)
    signed_in = await _sign_in(client)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/support"
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=1800" in cookie

    listing = await client.get("/support", params={"outcome": "completed", "channel": "console"})
    assert listing.status_code == 200 and listing.headers["cache-control"] == "no-store"
    policy = listing.headers["content-security-policy"]
    assert "script-src 'nonce-" in policy and "unsafe" not in policy and "http" not in policy
    assert f'href="/support/conversations/{conversation}"' in listing.text
    none = await client.get("/support", params={"outcome": "locked"})
    assert "No conversation matches." in none.text

    page = await client.get(f"/support/conversations/{conversation}")
    assert page.status_code == 200
    assert "[card → expiry]" in page.text and "wallet" in page.text
    assert '<pre class="mermaid">' in page.text and "s_active" in page.text
    scripts = re.findall(r"<script[^>]*>", page.text)
    nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce and scripts == [
        f'<script nonce="{nonce[1]}" src="/support/static/{name}">'
        for name in ("mermaid.min.js", "graph.js")
    ]
    mermaid = await client.get("/support/static/mermaid.min.js")
    assert mermaid.status_code == 200 and mermaid.headers["content-type"].startswith(
        "text/javascript"
    )
    assert (await client.get("/support/static/../support.py")).status_code == 404
    first = await client.get(f"/support/conversations/{conversation}", params={"step": "2"})
    assert "Conversation graph at step 2" in first.text
    assert "Class expiry s_active" in first.text
    assert "Class expiry s_visited" in page.text
    whole = await client.get(f"/support/conversations/{conversation}?step=999")
    assert whole.status_code == 200 and "Conversation graph at" not in whole.text

    replayed = await client.post(
        f"/support/conversations/{conversation}/replay",
        data={"csrf": _csrf(listing)},  # an older page's: every page of a session shares it
        headers={"Origin": ORIGIN},
    )
    assert replayed.status_code == 200
    assert re.search(r"Reproduced: all \d+ steps", replayed.text), replayed.text

    export = await client.get(f"/support/conversations/{conversation}/export")
    assert export.status_code == 200
    assert export.headers["content-disposition"] == (
        f'attachment; filename="conversation-{conversation}.jsonl"'
    )
    rows = [json.loads(line) for line in export.text.splitlines()]
    assert rows[0]["direction"] == "in" and rows[0]["text"] == "/start"
    assert {row["channel"] for row in rows} == {"console"}

    passcodes = [message.text for message in await Chat(bot).sandbox()]
    codes = [found for text in passcodes for found in re.findall(r"\b\d{6}\b", text)]
    for html in (listing.text, page.text, replayed.text, export.text):
        _no_secret(html, *codes)

    signed_out = await client.post(
        "/support/signout", data={"csrf": _csrf(replayed)}, headers={"Origin": ORIGIN}
    )
    assert signed_out.status_code == 303
    assert (await client.get("/support")).status_code == 303

    audited = [
        (row["action"], row["detail"])
        for row in await support.audit_rows(bot.database)
        if row["agent"] == AGENT
    ]
    assert audited == [
        ("support.agent_added", {}),
        ("support.signed_in", {}),
        ("support.viewed", {"conversation": conversation}),
        ("support.viewed", {"conversation": conversation, "step": 2}),
        ("support.viewed", {"conversation": conversation}),
        ("support.replayed", {"conversation": conversation, "result": "reproduced"}),
        ("support.exported", {"conversation": conversation}),
        ("support.signed_out", {}),
    ]


async def test_agents_are_added_and_the_audit_printed_by_the_command(
    bot: Runtime, database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_COMMAND, "support", *args], input=stdin, capture_output=True, text=True, env=env
        )

    added = await asyncio.to_thread(
        run, "add-agent", "suzuki", "--password-stdin", stdin="Desk-Password-77\n"
    )
    assert added.returncode == 0 and added.stdout == "agent suzuki added\n", added.stderr
    again = await asyncio.to_thread(
        run, "add-agent", "suzuki", "--password-stdin", stdin="Desk-Password-77\n"
    )
    assert again.returncode == 1 and "exists" in again.stderr
    short = await asyncio.to_thread(run, "add-agent", "sato", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 12" in short.stderr

    app = create_app(bot, retry_every=3600)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            assert (await _sign_in(client, "suzuki", "Desk-Password-77")).status_code == 303

    disabled = await asyncio.to_thread(run, "disable-agent", "suzuki")
    assert disabled.returncode == 0 and disabled.stdout == "agent suzuki disabled\n"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            assert (await _sign_in(client, "suzuki", "Desk-Password-77")).status_code == 401
    enabled = await asyncio.to_thread(run, "enable-agent", "suzuki")
    assert enabled.returncode == 0 and enabled.stdout == "agent suzuki enabled\n"

    printed = await asyncio.to_thread(run, "audit", "--json")
    assert printed.returncode == 0, printed.stderr
    rows = json.loads(printed.stdout)
    assert [(row["agent"], row["action"]) for row in rows] == [
        ("suzuki", "support.agent_added"),
        ("suzuki", "support.signed_in"),
        ("suzuki", "support.agent_disabled"),
        ("suzuki", "support.agent_enabled"),
    ]
    assert "Desk-Password-77" not in printed.stdout
    text = await asyncio.to_thread(run, "audit")
    assert "suzuki\tsupport.signed_in" in text.stdout


async def test_several_tabs_of_one_session_all_post(console: Console) -> None:
    bot, client = console
    conversation = await _recorded(bot)
    assert (await _sign_in(client)).status_code == 303
    first_tab = await client.get("/support")
    second_tab = await client.get(f"/support/conversations/{conversation}")
    assert "set-cookie" not in second_tab.headers  # no page replaces another's token
    for tab in (first_tab, second_tab):
        replayed = await client.post(
            f"/support/conversations/{conversation}/replay",
            data={"csrf": _csrf(tab)},
            headers={"Origin": ORIGIN},
        )
        assert replayed.status_code == 200 and "Reproduced" in replayed.text
    # The token is the session's: another session's token, or none, is refused.
    other_tab = httpx.AsyncClient(transport=client._transport, base_url=ORIGIN)
    async with other_tab:
        assert (await _sign_in(other_tab)).status_code == 303
        other_page = await other_tab.get("/support")
        assert _csrf(other_page) != _csrf(first_tab)
        crossed = await client.post(
            f"/support/conversations/{conversation}/replay",
            data={"csrf": _csrf(other_page)},
            headers={"Origin": ORIGIN},
        )
        assert crossed.status_code == 403
    forged = await client.post(
        f"/support/conversations/{conversation}/replay",
        data={"csrf": _csrf(first_tab)},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    # Two sign-in tabs opened before signing in: the form of either signs in.
    client.cookies.clear()
    tabs = [await client.get("/support/signin") for _ in range(2)]
    assert _csrf(tabs[0]) == _csrf(tabs[1])
    signed_in = await client.post(
        "/support/signin",
        data={"csrf": _csrf(tabs[0]), "name": AGENT, "password": AGENT_PASSWORD},
        headers={"Origin": ORIGIN},
    )
    assert signed_in.status_code == 303


async def test_a_disabled_agent_cannot_sign_in_and_their_session_stops(
    console: Console,
) -> None:
    bot, client = console
    assert (await _sign_in(client)).status_code == 303
    page = await client.get("/support")
    assert page.status_code == 200

    assert await support.set_enabled(bot, AGENT, enabled=False) is True
    assert await support.set_enabled(bot, AGENT, enabled=False) is False
    assert (await client.get("/support")).status_code == 303  # the live session is over
    stale = await client.post(
        "/support/signout", data={"csrf": _csrf(page)}, headers={"Origin": ORIGIN}
    )
    assert stale.status_code == 303 and stale.headers["location"] == "/support/signin"
    refused = await _sign_in(client)
    wrong = await _sign_in(client, password="Not-The-Password-1")
    assert refused.status_code == wrong.status_code == 401
    strip = re.compile(r'value="[^"]*"|nonce="[^"]*"')
    assert strip.sub("", refused.text) == strip.sub("", wrong.text)

    old_cookie = client.cookies.get("netanswer_support")
    assert await support.set_enabled(bot, AGENT, enabled=True) is True
    assert old_cookie is None or (await client.get("/support")).status_code == 303
    assert (await _sign_in(client)).status_code == 303
    assert (await client.get("/support")).status_code == 200
    with pytest.raises(support.AgentError, match="no agent"):
        await support.set_enabled(bot, "nobody", enabled=False)
    assert _actions(await support.audit_rows(bot.database)) == [
        "support.agent_added",
        "support.signed_in",
        "support.agent_disabled",
        "support.agent_enabled",
        "support.signed_in",
    ]


async def test_a_session_from_before_disabling_stays_void_after_enabling(
    console: Console,
) -> None:
    bot, client = console
    signed_in = await _sign_in(client)
    cookie = signed_in.cookies["netanswer_support"]
    await support.set_enabled(bot, AGENT, enabled=False)
    await support.set_enabled(bot, AGENT, enabled=True)
    client.cookies.set("netanswer_support", cookie, path="/support")
    assert (await client.get("/support")).status_code == 303


async def test_no_route_changes_the_audit_log(console: Console) -> None:
    _, client = console
    assert (await _sign_in(client)).status_code == 303
    for method in ("DELETE", "PUT", "PATCH"):
        answer = await client.request(method, "/support/audit")
        assert answer.status_code in (404, 405)
    assert (await client.get("/support/audit")).status_code == 404


# The dashboard: after scripted conversations (completed by SMS; completed by re-issue,
# mail and PIN; a landline member who left at the call; a member who left at the email;
# one locked out by wrong passcodes) its figures are what happened.


async def _scripted(bot: Runtime, clock: Clock) -> list[str]:
    """Five conversations; returns the passcodes the sandbox delivered."""
    landline = Chat(bot, user="landline")
    await to_confirm(landline, DINERS)
    await landline.send(choice="confirm:ok")
    assert landline.state == "call", landline.keys

    await to_email(Chat(bot, user="left-at-email"), MASTERCARD_2)

    await enroll(Chat(bot, user="sms"), VISA)

    other_ways = Chat(bot, user="other-ways")
    codes = [await to_passcode(other_ways, MASTERCARD)]
    clock.advance(seconds=61)
    await other_ways.send(choice="otp:resend")
    assert other_ways.keys[0] == "otp.resent", other_ways.keys
    codes.append(await other_ways.passcode())
    await other_ways.send(choice="otp:email")
    assert other_ways.keys[0] == "otp.resent", other_ways.keys
    codes.append(await other_ways.passcode())
    await other_ways.send(choice="otp:pin")
    await other_ways.send(MASTERCARD.pin)
    assert other_ways.state == "wallet", other_ways.keys
    await other_ways.send(choice="wallet:later")

    locked = Chat(bot, user="locked")
    codes.append(await to_passcode(locked, JCB))
    for _ in range(5):
        await locked.send("000000" if codes[-1] != "000000" else "111111")
    assert locked.state == "closed" and "identity.locked" in locked.keys, locked.keys
    # Past the idle limit of the two who left (a minute before the others), within the
    # lockout's 30 minutes.
    clock.advance(minutes=29, seconds=30)
    return codes


def _table(html: str, table: str) -> dict[str, list[str]]:
    """A table of the page as {row heading: [cells]}."""
    found = re.search(rf'<table id="{table}">(.*?)</table>', html, re.S)
    assert found, table
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th>(.*?)</tr>', found[1], re.S)
    return {head: re.findall(r'<td class="n">(\d+)</td>', cells) for head, cells in rows}


async def test_the_dashboard_counts_what_happened(console: Console, clock: Clock) -> None:
    bot, client = console
    codes = await _scripted(bot, clock)
    assert (await _sign_in(client)).status_code == 303
    page = await client.get("/support/dashboard")
    assert page.status_code == 200

    today = clock().astimezone(dashboard.transcripts.JAPAN).date().isoformat()
    daily = _table(page.text, "daily")
    assert len(daily) == dashboard.DAYS
    # started, completed, abandoned, locked, cancelled, in progress
    assert daily[today] == ["5", "2", "2", "1", "0", "0"]
    assert all(cells == ["0"] * 6 for day, cells in daily.items() if day != today)
    assert _table(page.text, "abandoned") == {"call": ["1"], "email": ["1"]}
    assert _table(page.text, "paths") == {
        "SMS": ["3"],
        "re-issue by SMS": ["1"],
        "mail": ["1"],
        "card PIN": ["1"],
        "toll-free call": ["1"],
    }
    assert _table(page.text, "locked-now") == {"passcode / PIN (card)": ["1"]}
    assert "Conversations started: 5 (2 completed, 2 abandoned, 1 locked," in page.text
    _no_secret(page.text, *codes, MASTERCARD.pin, JCB.number.replace(" ", ""))

    for name in dashboard.CHARTS:
        assert f'src="/support/dashboard/{name}.png?days=14"' in page.text
        chart = await client.get(f"/support/dashboard/{name}.png")
        assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
        assert chart.content.startswith(b"\x89PNG") and chart.headers["cache-control"] == "no-store"
    assert (await client.get("/support/dashboard/other.png")).status_code == 404

    # The period moves with ?days: a day later, one day's window holds nothing.
    clock.advance(days=1)
    later = await client.get("/support/dashboard", params={"days": "1"})
    assert list(_table(later.text, "daily").values()) == [["0"] * 6]
    assert "Conversations started: 0 (" in later.text
    rows = await support.audit_rows(bot.database)
    assert [(r["action"], r["detail"]) for r in rows if r["agent"] == AGENT][-2:] == [
        ("support.viewed_dashboard", {"days": 14}),
        ("support.viewed_dashboard", {"days": 1}),
    ]
