"""The database failing behind a TCP proxy while Telegram webhooks arrive: refused,
black-holed, its open connections frozen. Each answer must come in time and say 503
unless the event was applied; nothing may be lost once the database is back."""

import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from adapters.channels.channel import Inbound, Outgoing
from bot.config import Settings
from bot.runtime import Runtime, start
from bot.server import create_app
from storage.database import Database, sync_url
from storage.models import Conversation
from tests.channels.conftest import SECRET, Member, telegram
from tests.channels.telegram_stand_in import TOKEN, TelegramStandIn
from tests.enroll import VISA
from tests.faults import Mode, Proxy

# Only a networked database can hang; these run on PostgreSQL.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    running = await Proxy().start()
    yield running
    await running.stop()


@pytest.fixture
def limits() -> dict[str, str]:
    """Database time limits of the bot under test (the defaults unless a test says)."""
    return {}


@pytest.fixture
async def proxied(
    database_url: str,
    proxy: Proxy,
    tmp_path: Path,
    stand_in: TelegramStandIn,
    limits: dict[str, str],
) -> AsyncIterator[Runtime]:
    settings = Settings.from_env(
        {
            **limits,
            "DATABASE_URL": proxy.url(database_url),
            "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
            "NETANSWER_CHECK_FLOOR_MS": "0",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": stand_in.base_url,
        }
    )
    runtime = await asyncio.to_thread(start, settings, rng=random.Random(7))
    yield runtime


@pytest.fixture
async def served(proxied: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(proxied, retry_every=0.2, channels=[telegram(proxied)])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            yield client


async def _timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    response = await call
    return response, time.monotonic() - began


async def _restart(proxy: Proxy) -> None:
    """Every pooled connection dropped, as by a database restart; new ones work."""
    proxy.set(Mode.REFUSE)
    await asyncio.sleep(0.2)
    proxy.set(Mode.PASS)


async def _state(direct_url: str, user: int) -> str:
    database = Database(direct_url)
    try:
        async with database.transaction() as session:
            row = await session.scalar(
                select(Conversation).where(Conversation.user_id == str(user))
            )
            return row.state if row else ""
    finally:
        await database.close()


async def _until_applied(member: Member, update: dict[str, object], within: float) -> float:
    """Redeliver ``update`` as Telegram would until it is answered 200."""
    began = time.monotonic()
    while True:
        response = await member.post(update)
        if response.status_code == 200:
            return time.monotonic() - began
        assert response.status_code == 503, response.text
        assert time.monotonic() - began < within, "not back to normal in time"
        await asyncio.sleep(0.5)


async def test_a_hanging_database_is_answered_503_in_time_and_nothing_is_lost(
    served: httpx.AsyncClient,
    proxy: Proxy,
    proxied: Runtime,
    stand_in: TelegramStandIn,
    database_url: str,
) -> None:
    member = Member(served, stand_in)
    await member.say("/start")
    proxy.set(Mode.BLACKHOLE)
    update = member.message(VISA.number)
    answer, took = await _timed(member.post(update))
    assert answer.status_code == 503 and took < 10
    health, took = await _timed(served.get("/healthz"))
    assert health.status_code == 503 and took < 5
    await asyncio.sleep(1)
    proxy.set(Mode.PASS)
    assert await _until_applied(member, update, within=15) < 15
    assert (await served.get("/healthz")).status_code == 200
    assert await _state(database_url, member.user_id) == "expiry"
    assert (await member.post(update)).status_code == 200  # a late repeat changes nothing
    assert await _state(database_url, member.user_id) == "expiry"


async def test_a_refusing_database_is_answered_503_at_once(
    served: httpx.AsyncClient,
    proxy: Proxy,
    stand_in: TelegramStandIn,
    database_url: str,
    proxied: Runtime,
) -> None:
    member = Member(served, stand_in)
    await member.say("/start")
    proxy.set(Mode.REFUSE)
    update = member.message(VISA.number)
    answer, took = await _timed(member.post(update))
    assert answer.status_code == 503 and took < 10
    assert (await served.get("/healthz")).status_code == 503
    proxy.set(Mode.PASS)
    await _until_applied(member, update, within=15)
    assert await _state(database_url, member.user_id) == "expiry"


async def test_connections_dropped_by_the_database_are_replaced_without_a_503(
    served: httpx.AsyncClient,
    proxy: Proxy,
    stand_in: TelegramStandIn,
    database_url: str,
    proxied: Runtime,
) -> None:
    """A restart drops every pooled connection. The pool pings none before use: a turn
    whose first statement finds its connection gone is run once more on a fresh one,
    so chats writing at that moment, several at once, are all answered 200."""
    members = [Member(served, stand_in, user_id=5_550_100 + n) for n in range(6)]
    for member in members:
        await member.say("/start")
    await _restart(proxy)
    answers = await asyncio.gather(*(m.post(m.message(VISA.number)) for m in members))
    assert [answer.status_code for answer in answers] == [200] * len(members)
    for member in members:
        assert await _state(database_url, member.user_id) == "expiry"


async def test_a_turn_that_takes_a_dropped_connection_is_run_again_on_a_fresh_one(
    proxy: Proxy, proxied: Runtime, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """As above, with no background loop to meet the dropped connections first: each
    turn that takes one is rolled back and run once more, and applied once."""
    users = [str(5_550_200 + n) for n in range(4)]
    for user in users:  # the pool holds a connection per chat at once, as under load
        await proxied.handle(Inbound("telegram", user, f"{user}-1", text="/start"))
    await asyncio.gather(
        *(proxied.handle(Inbound("telegram", u, f"{u}-2", text="/help")) for u in users)
    )
    await _restart(proxy)
    outcomes = await asyncio.gather(
        *(proxied.handle(Inbound("telegram", u, f"{u}-3", text=VISA.number)) for u in users)
    )
    assert [(o.failed, o.duplicate, o.state) for o in outcomes] == [(False, False, "expiry")] * 4
    assert "turn run again: the database had dropped its connection" in caplog.text
    for user in users:
        assert await _state(database_url, int(user)) == "expiry"


@pytest.mark.parametrize("limits", [{"NETANSWER_DB_TIMEOUT": "1", "NETANSWER_TURN_DEADLINE": "3"}])
async def test_frozen_connections_are_left_behind_and_the_loops_say_so(
    served: httpx.AsyncClient,
    proxy: Proxy,
    stand_in: TelegramStandIn,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    member = Member(served, stand_in)
    await member.say("/start")
    await asyncio.sleep(0.5)  # the loops have taken connections of their own
    proxy.set(Mode.FREEZE)  # a partition: what is open hangs, new connections work
    began = time.monotonic()  # the outbox loop takes a frozen connection and overruns
    while not any("outbox pass failed: Overdue" in r.getMessage() for r in caplog.records):
        assert time.monotonic() - began < 30, "a hung pass was never cut off and logged"
        await asyncio.sleep(0.5)
    update = member.message(VISA.number)
    await _until_applied(member, update, within=30)
    began = time.monotonic()
    while "カードの有効期限" not in " ".join(stand_in.texts):  # the reply reaches the member
        assert time.monotonic() - began < 30, stand_in.texts
        await asyncio.sleep(0.2)
    assert await _state(database_url, member.user_id) == "expiry"
    began = time.monotonic()
    while (await served.get("/healthz")).status_code != 200:  # every loop passes again
        assert time.monotonic() - began < 30
        await asyncio.sleep(0.5)


async def test_a_cut_between_sending_and_recording_neither_stalls_nor_repeats(
    proxy: Proxy,
    proxied: Runtime,
    stand_in: TelegramStandIn,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = telegram(proxied)
    sent_first = asyncio.Event()
    send = channel.send

    async def send_then_lose_the_database(batch: Sequence[Outgoing]) -> None:
        await send(batch)
        if not sent_first.is_set():  # the first reply reached Telegram: cut right now
            sent_first.set()
            proxy.set(Mode.REFUSE)

    channel.send = send_then_lose_the_database  # type: ignore[method-assign]
    app = create_app(proxied, retry_every=0.2, channels=[channel])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            member = Member(client, stand_in)
            await member.say("/start")  # two replies: the first is sent, then the cut
            await sent_first.wait()
            await asyncio.sleep(1)
            proxy.set(Mode.PASS)
            restored = time.monotonic()
            while len(stand_in.texts) < 2:
                assert time.monotonic() - restored < 10, "the chat stalled behind a lease"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)
    assert len(stand_in.texts) == 2 and stand_in.texts[0] != stand_in.texts[1]  # no repeat
    assert any("kept until the database is back" in r.getMessage() for r in caplog.records)


async def test_sigterm_stops_a_worker_in_time_while_the_database_hangs(
    proxy: Proxy, database_url: str, tmp_path: Path, stand_in: TelegramStandIn
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": proxy.url(database_url),
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE_URL": stand_in.base_url,
    }
    command = str(Path(sys.executable).parent / "netanswer-bot")
    worker = await asyncio.create_subprocess_exec(
        command, "serve", "--host", "127.0.0.1", "--port", str(port), env=env
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            began = time.monotonic()
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                assert time.monotonic() - began < 30, "the worker did not start"
                await asyncio.sleep(0.2)
            proxy.set(Mode.BLACKHOLE)
            member = Member(client, stand_in)
            waiting = asyncio.create_task(member.post(member.message("/start")))
            await asyncio.sleep(0.5)  # the webhook is now waiting on the database
            worker.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            await asyncio.wait_for(worker.wait(), timeout=15)
            assert time.monotonic() - stopping < 10
            with contextlib.suppress(httpx.HTTPError):
                answer = await waiting
                assert answer.status_code != 200  # never "applied" for an unfinished turn
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


async def test_a_database_that_turned_read_only_is_answered_503(
    runtime: Runtime, stand_in: TelegramStandIn, database_url: str
) -> None:
    """A standby after a failover refuses writes (PostgreSQL's InternalError)."""
    read_only = runtime.settings.with_env(
        DATABASE_URL=database_url + "%20-cdefault_transaction_read_only%3Don"
    )
    standby = await asyncio.to_thread(start, read_only, upgrade=False)
    app = create_app(standby, retry_every=3600, channels=[telegram(standby)])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
            member = Member(client, stand_in)
            assert (await member.post(member.message("/start"))).status_code == 503
            assert (await client.get("/healthz")).status_code == 503
    assert stand_in.texts == []


async def test_a_client_killed_through_the_proxy_leaves_no_transaction_open(
    proxy: Proxy, database_url: str
) -> None:
    """The proxy closes the server's side when the client's side closes, as a direct
    connection would: a process killed mid-transaction holds no lock afterwards."""
    waiter = Database(database_url, timeout=2)  # lock_timeout 2 s
    try:
        async with waiter.transaction() as session:
            await session.execute(text("CREATE TABLE held (id int PRIMARY KEY)"))
            await session.execute(text("INSERT INTO held VALUES (1)"))
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _HOLD_A_LOCK,
            str(sync_url(proxy.url(database_url)).set(drivername="postgresql")),
            stdout=asyncio.subprocess.PIPE,
        )
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
        holder.kill()
        await holder.wait()
        async with waiter.transaction() as session:
            await session.execute(text("SELECT id FROM held WHERE id = 1 FOR UPDATE"))
    finally:
        await waiter.close()


_HOLD_A_LOCK = """
import sys, time, psycopg
connection = psycopg.connect(sys.argv[1])
connection.execute("SELECT id FROM held WHERE id = 1 FOR UPDATE")
print("locked", flush=True)
time.sleep(60)
"""
