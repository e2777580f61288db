"""LINE's own account linking, end to end: the sign-in button carries LINE's link
token to this server's page, the page takes ID, password and passcode and sends the
browser to LINE's dialog with a nonce, and only LINE's signed ``accountLink`` event
bringing that nonce back, fresh, unused and for the same user, links the chat."""

import asyncio
import json
import logging
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from bot import replay, transcripts
from bot.config import Settings
from bot.registry import FLOWS
from bot.runtime import Runtime, start
from bot.server import create_app
from storage import sandbox
from storage.models import AccountLink, ChatIdentity, OutboxMessage
from tests.channels.conftest import LINE_SECRET, Friend
from tests.channels.line_stand_in import TOKEN as LINE_TOKEN
from tests.channels.line_stand_in import LineStandIn
from tests.conftest import Chat, Clock, passcode_in
from tests.test_secrets import _dump_tables, _pattern

PUBLIC = "https://bot.test"
NETID = "saisonvisa33"
SECRET = "Kumo-Sora2030"
OTHER_USER = "U0000000000000000000000000000beef"


@pytest.fixture
async def bot(
    settings: Settings, line_stand_in: LineStandIn, clock: Clock
) -> AsyncIterator[Runtime]:
    linked = settings.with_env(
        LINE_CHANNEL_SECRET=LINE_SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN,
        LINE_API_BASE_URL=line_stand_in.base_url,
        PUBLIC_URL=PUBLIC,
    )
    runtime = await asyncio.to_thread(start, linked, clock=clock, rng=random.Random(3))
    yield runtime
    await runtime.close()


@pytest.fixture
async def app(bot: Runtime) -> AsyncIterator[Starlette]:
    app = create_app(bot, retry_every=3600)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield client


@pytest.fixture
def friend(client: httpx.AsyncClient) -> Friend:
    return Friend(client)


async def _keys(bot: Runtime) -> list[str]:
    async with bot.database.transaction() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [row.payload["key"] for row in rows]


async def _links(bot: Runtime) -> list[tuple[str, str]]:
    async with bot.database.transaction() as session:
        return [(row.channel, row.user_id) for row in await session.scalars(select(ChatIdentity))]


async def _passcode(bot: Runtime) -> str:
    async with bot.database.transaction() as session:
        messages = await sandbox.read(session, bot.vault)
    return passcode_in(messages[-1].text)


def _page_button(stand_in: LineStandIn) -> str:
    """The sign-in page's address from the last message's quick-reply buttons."""
    items = stand_in.delivered[-1]["quickReply"]["items"]
    [uri] = [item["action"]["uri"] for item in items if item["action"]["type"] == "uri"]
    postbacks = [item["action"]["data"] for item in items if item["action"]["type"] == "postback"]
    assert "signin:chat" in postbacks  # the chat sign-in stays one button away
    return uri


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found[1]


async def _form(client: httpx.AsyncClient, page: httpx.Response, **fields: str) -> httpx.Response:
    token = parse_qs(urlsplit(str(page.url)).query).get("linkToken") or re.findall(
        r'name="linkToken" value="([^"]+)"', page.text
    )
    data = {"csrf": _csrf(page), "linkToken": token[0], **fields}
    return await client.post("/signin/line", data=data, headers={"Origin": PUBLIC})


async def _through_the_page(
    bot: Runtime, friend: Friend, stand_in: LineStandIn, client: httpx.AsyncClient
) -> str:
    """From the follow to LINE's dialog; returns the nonce the page sent the browser with."""
    await friend.post(friend.follow())
    await friend.choose("welcome:signin")
    address = _page_button(stand_in)
    assert address.startswith(f"{PUBLIC}/signin/line?linkToken=")
    [(token, user)] = stand_in.link_tokens.items()
    assert user == friend.user_id and token in address
    page = await client.get(address.removeprefix(PUBLIC))
    assert page.status_code == 200 and 'name="password"' in page.text
    asked = await _form(client, page, netid=NETID, password=SECRET)
    assert asked.status_code == 200 and 'name="passcode"' in asked.text, asked.text
    assert "*******3333" in asked.text  # where the passcode went, masked
    done = await _form(client, asked, passcode=await _passcode(bot))
    assert done.status_code == 303, done.text
    target = urlsplit(done.headers["location"])
    assert (target.scheme, target.netloc, target.path) == (
        "https",
        "access.line.me",
        "/dialog/bot/accountLink",
    )
    query = parse_qs(target.query)
    assert query["linkToken"] == [token]
    [nonce] = query["nonce"]
    assert len(nonce) >= 22  # at least 128 bits
    assert await _links(bot) == []  # nothing is linked before LINE's event
    return nonce


async def test_a_member_links_line_through_the_account_link_flow(
    bot: Runtime, friend: Friend, line_stand_in: LineStandIn, client: httpx.AsyncClient
) -> None:
    nonce = await _through_the_page(bot, friend, line_stand_in, client)
    response = await friend.post(friend.account_link(nonce))
    assert response.status_code == 200
    assert await _links(bot) == [("line", friend.user_id)]
    assert (await _keys(bot))[-2:] == ["signin.linked", "ask.member"]
    await friend.say("/points")
    assert (await _keys(bot))[-2:] == ["member.points", "ask.member"]
    assert "ポイント" in line_stand_in.texts[-2]


@pytest.mark.parametrize("variant", ["wrong nonce", "reused", "expired", "other user", "failed"])
async def test_only_the_right_fresh_unused_nonce_for_the_user_links(
    bot: Runtime,
    friend: Friend,
    line_stand_in: LineStandIn,
    client: httpx.AsyncClient,
    clock: Clock,
    variant: str,
) -> None:
    nonce = await _through_the_page(bot, friend, line_stand_in, client)
    sender, result = friend, "ok"
    if variant == "wrong nonce":
        nonce = nonce[::-1]
    elif variant == "reused":
        await friend.post(friend.account_link(nonce))
        await friend.say("/unlink")
        await friend.choose("unlink:confirm")
        assert await _links(bot) == []
    elif variant == "expired":
        clock.advance(minutes=11)
    elif variant == "other user":
        sender = Friend(friend.client, user_id=OTHER_USER)
    else:
        result = "failed"
    response = await sender.post(sender.account_link(nonce, result=result))
    assert response.status_code == 200
    assert await _links(bot) == []
    assert "signin.link_failed" in (await _keys(bot))[-3:]
    if variant == "other user":  # the nonce is spent: the member it was made for cannot use it
        await friend.post(friend.account_link(nonce))
        assert await _links(bot) == []
    else:
        # The member may try again: a fresh link token and page, the chat sign-in too.
        assert len(line_stand_in.link_tokens) == (1 if variant == "reused" else 2)


async def test_the_page_is_private_and_refuses_posts_from_elsewhere(
    bot: Runtime, friend: Friend, line_stand_in: LineStandIn, client: httpx.AsyncClient
) -> None:
    await friend.post(friend.follow())
    await friend.choose("welcome:signin")
    page = await client.get(_page_button(line_stand_in).removeprefix(PUBLIC))
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "form-action 'self' https://access.line.me" in policy
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "httponly" in page.headers["set-cookie"].lower()
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    token = re.findall(r'name="linkToken" value="([^"]+)"', page.text)[0]
    fields = {"linkToken": token, "netid": NETID, "password": SECRET, "csrf": _csrf(page)}
    elsewhere = await client.post(
        "/signin/line", data=fields, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    client.cookies.clear()
    no_cookie = await client.post("/signin/line", data=fields, headers={"Origin": PUBLIC})
    assert no_cookie.status_code == 403
    assert (await client.get("/signin/line?linkToken=made-up")).status_code == 410
    assert await _links(bot) == [] and await _keys(bot)  # no passcode was sent either
    async with bot.database.transaction() as session:
        assert await sandbox.read(session, bot.vault) == []


async def test_the_page_answers_an_unknown_id_and_a_wrong_password_alike(
    bot: Runtime, friend: Friend, line_stand_in: LineStandIn, client: httpx.AsyncClient
) -> None:
    await friend.post(friend.follow())
    await friend.choose("welcome:signin")
    page = await client.get(_page_button(line_stand_in).removeprefix(PUBLIC))
    unknown = await _form(client, page, netid="nobody1234", password=SECRET)
    wrong = await _form(client, unknown, netid=NETID, password="Kumo-Sora2031")
    assert unknown.status_code == wrong.status_code == 200

    def notice(response: httpx.Response) -> list[str]:
        return re.findall(r'role="alert">([^<]+)<', response.text)

    assert notice(unknown) == notice(wrong) and notice(wrong)
    assert 'name="password"' in wrong.text


async def test_no_password_or_passcode_in_clear_anywhere(
    bot: Runtime,
    friend: Friend,
    line_stand_in: LineStandIn,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        nonce = await _through_the_page(bot, friend, line_stand_in, client)
        await friend.post(friend.account_link(nonce))
        async with bot.database.transaction() as session:
            [message] = await sandbox.read(session, bot.vault)
        passcode = passcode_in(message.text)
        tables = await _dump_tables(Chat(bot))
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    logs = "\n".join(record.getMessage() for record in caplog.records).encode()
    assert len(logs) > 1000
    for place, content in (("tables", tables), ("logs", logs)):
        for name, secret in (("password", SECRET), ("passcode", passcode), ("nonce", nonce)):
            assert not _pattern(secret).search(content), f"{name} found in {place}"


async def test_account_link_runs_are_forgotten_with_old_event_ids(
    bot: Runtime, friend: Friend, line_stand_in: LineStandIn, clock: Clock
) -> None:
    await friend.post(friend.follow())
    await friend.choose("welcome:signin")
    async with bot.database.transaction() as session:
        assert len(list(await session.scalars(select(AccountLink)))) == 1
    clock.advance(days=8)
    await bot.engine.prune_events()
    async with bot.database.transaction() as session:
        assert list(await session.scalars(select(AccountLink))) == []


async def test_the_chat_sign_in_stays_one_button_away(
    bot: Runtime, friend: Friend, line_stand_in: LineStandIn
) -> None:
    await friend.post(friend.follow())
    await friend.choose("welcome:signin")
    assert (await _keys(bot))[-1] == "ask.signin_page"
    await friend.choose("signin:chat")
    assert (await _keys(bot))[-1] == "ask.signin_id"
    await friend.say(NETID)
    await friend.say(SECRET)
    await friend.say(await _passcode(bot))
    assert await _links(bot) == [("line", friend.user_id)]
    assert (await _keys(bot))[-2:] == ["signin.linked", "ask.member"]


async def test_a_line_sign_in_replays(
    bot: Runtime, friend: Friend, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    """The replay's sandbox offers the page as the recording server did."""
    await friend.post(friend.follow())
    await friend.choose("welcome:signin")
    await friend.choose("signin:chat")
    await friend.say(NETID)
    (found,) = await transcripts.listing(bot.database, FLOWS, bot.now())
    steps = await transcripts.steps(bot.database, found.id, found.lang)
    lines = transcripts.export_lines(steps, channel=found.channel, lang=found.lang)
    exported = tmp_path / "line.jsonl"
    exported.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    report = await replay.replay(replay.read(exported), settings)
    assert report.reproduced, replay.side_by_side(report.recorded, report.now)
