"""The real webhook path, measured: HTTP to ``netanswer-bot serve`` worker processes on
loopback (Telegram's secret header, LINE's signature), the SDKs' parsing, the engine on
PostgreSQL, and the reply sent through the outbox to a local stand-in for each platform.

    PYTHONPATH=. .venv/bin/python benchmarks/webhooks.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Prints, in one run: messages/s with 1 and 2 worker processes and their ratio, the
workers' CPU per message, latency at a fixed offered rate and at half the rate the
workers carried, the SQL statements and transactions per message, the bare-database
floor (benchmarks/turns.py's), and a worker's resident memory with 1,000 and 100,000
stored conversations. Every message is
``/help`` from one of many chats (it reads, writes and answers); the load generator,
the stand-ins, PostgreSQL and the workers share this machine's cores. It asserts
nothing, except that every message was answered 200 and every reply was sent.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.turns import Statements, floor_rate, scratch
from bot.config import Settings
from bot.runtime import start

_TELEGRAM_SECRET = "bench-Secret_0123456789"
_LINE_SECRET = "8c570fa6dd201bb328f1c1eac23a96d8"
_CHATS = 500  # distinct chats, more than requests in flight: no chat has two at once
_CONCURRENCY = 16  # requests in flight in the throughput runs
_DATE = 1_795_000_000
_TELEGRAM_USERS = 10_000_000  # chat n is Telegram user 10,000,000 + n
_STORED = 100_000  # the conversations stored for the memory runs are chats from here on


@dataclass(frozen=True)
class _Platform:
    """How one platform's webhook request for a chat's message is made."""

    name: str
    path: str
    request: Callable[[int, str], tuple[bytes, dict[str, str]]]


_update_ids = itertools.count(900_000_001)
_line_ids = itertools.count(1)


def _telegram(chat: int, text: str) -> tuple[bytes, dict[str, str]]:
    user = {
        "id": _TELEGRAM_USERS + chat,
        "is_bot": False,
        "first_name": "Taro",
        "language_code": "ja",
    }
    message = {
        "message_id": next(_line_ids),
        "date": _DATE,
        "chat": {"id": user["id"], "type": "private", "first_name": "Taro"},
        "from": user,
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
    }
    body = json.dumps({"update_id": next(_update_ids), "message": message}).encode()
    headers = {"X-Telegram-Bot-Api-Secret-Token": _TELEGRAM_SECRET}
    return body, {**headers, "Content-Type": "application/json"}


def _line(chat: int, text: str) -> tuple[bytes, dict[str, str]]:
    number = next(_line_ids)
    event = {
        "type": "message",
        "mode": "active",
        "timestamp": 1_795_000_000_000 + number,
        "source": {"type": "user", "userId": f"U{chat:032x}"},
        "webhookEventId": f"01JD{number:022d}",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": uuid.uuid4().hex,
        "message": {"id": str(number), "type": "text", "text": text, "quoteToken": "q"},
    }
    body = json.dumps({"destination": "U" + "0" * 32, "events": [event]}).encode()
    signature = hmac.new(_LINE_SECRET.encode(), body, hashlib.sha256).digest()
    return body, {"X-Line-Signature": base64.b64encode(signature).decode(), **_JSON}


_JSON = {"Content-Type": "application/json"}
_PLATFORMS = (
    _Platform("telegram", "/webhooks/telegram", _telegram),
    _Platform("line", "/webhooks/line", _line),
)


def _stand_ins(ready: Any) -> None:
    """The Telegram and LINE stand-ins, in a process of their own (run until killed)."""
    from tests.channels.line_stand_in import LineStandIn
    from tests.channels.telegram_stand_in import TelegramStandIn

    telegram, line = TelegramStandIn(), LineStandIn()
    telegram.start()
    line.start()
    ready.put((telegram.base_url, f"http://127.0.0.1:{line.port}"))
    while True:
        time.sleep(3600)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Workers:
    """``netanswer-bot serve`` processes on one database, each on its own port."""

    def __init__(self, env: dict[str, str], count: int) -> None:
        self.ports = [_free_port() for _ in range(count)]
        command = [sys.executable, "-c", "from bot.cli import main; main()", "serve"]
        self.processes = [
            subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(port)], env=env)
            for port in self.ports
        ]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        for port in self.ports:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "a worker did not start"
                time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the workers have used so far."""
        total = 0
        for process in self.processes:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
        return total / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        """The first worker's resident memory."""
        status = Path(f"/proc/{self.processes[0].pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line[:6] == "VmRSS:"))

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=20)


class _Load:
    """Webhook requests to the workers, round robin, each chat's messages one at a time."""

    def __init__(
        self, client: httpx.AsyncClient, workers: _Workers, platform: _Platform, first: int = 0
    ) -> None:
        self.client, self.platform, self.first = client, platform, first
        self.refused = 0  # answered other than 200 (a 503 under overload), or not at all
        self.urls = itertools.cycle(f"http://127.0.0.1:{p}{platform.path}" for p in workers.ports)

    async def send(self, n: int, text: str = "/help") -> float:
        """The ``n``-th message, from chat ``n`` modulo :data:`_CHATS`."""
        body, headers = self.platform.request(self.first + n % _CHATS, text)
        started = time.perf_counter()
        try:
            response = await self.client.post(next(self.urls), content=body, headers=headers)
            self.refused += response.status_code != 200
        except httpx.TransportError:  # not answered in time
            self.refused += 1
        return time.perf_counter() - started

    async def rate(self, messages: int, text: str = "/help") -> float:
        """Messages/s answered with :data:`_CONCURRENCY` requests in flight."""
        numbers = iter(range(messages))

        async def sender() -> None:
            for n in numbers:
                await self.send(n, text)

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(_CONCURRENCY)))
        return messages / (time.perf_counter() - started)

    async def latencies(self, per_second: int, seconds: float) -> list[float]:
        """Each request's time to its 200, at ``per_second`` requests offered on a fixed
        schedule (an open loop: a slow answer does not slow the next request down)."""
        total = round(per_second * seconds)
        started = time.perf_counter()

        async def at(n: int) -> float:
            await asyncio.sleep(max(0.0, started + n / per_second - time.perf_counter()))
            return await self.send(n)

        return list(await asyncio.gather(*(at(n) for n in range(total))))


async def _drained(url: str) -> None:
    """Wait until the outbox holds no reply that was not sent (at most a minute)."""
    engine = create_async_engine(url)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as connection:
                pending = await connection.scalar(
                    sqlalchemy.text("SELECT count(*) FROM outbox WHERE status <> 'sent'")
                )
            if not pending:
                return
            await asyncio.sleep(0.05)
        print(f"  {pending} replies still unsent after a minute")
    finally:
        await engine.dispose()


@dataclass
class _Measured:
    answered: float  # messages/s answered 200
    sent: float  # messages/s until every reply was sent
    cpu: float  # the workers' CPU milliseconds per message, its replies sent
    p50: float  # latency in ms at the offered rate
    p99: float
    refused: int  # answers other than 200 at the offered rate
    carried: float  # half the rate the workers answered: offered for the latency below
    carried_p50: float
    carried_p99: float


async def _measure(
    env: dict[str, str], workers: _Workers, messages: int, rate: int, seconds: float
) -> dict[str, _Measured]:
    url = env["DATABASE_URL"]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=_CONCURRENCY)
    measured = {}
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        for platform in _PLATFORMS:
            load = _Load(client, workers, platform)
            await load.rate(_CHATS, "/start")  # every chat exists before the clock starts
            await _drained(url)
            started, cpu = time.perf_counter(), workers.cpu_seconds()
            answered = await load.rate(messages)
            await _drained(url)
            sent = messages / (time.perf_counter() - started)
            cpu = (workers.cpu_seconds() - cpu) * 1000 / messages
            # Half load first: the overload after it leaves gaps in Telegram's numbers
            # (updates answered 503, which Telegram would send again and this does not),
            # and the updates after a gap wait the order window.
            carried = max(1, round(answered / 2))
            easy = statistics.quantiles(await load.latencies(carried, seconds), n=100)
            await _drained(url)
            load.refused = 0
            cut = statistics.quantiles(await load.latencies(rate, seconds), n=100)
            refused = load.refused
            await _drained(url)
            measured[platform.name] = _Measured(
                answered,
                sent,
                cpu,
                cut[49] * 1000,
                cut[98] * 1000,
                refused,
                carried,
                easy[49] * 1000,
                easy[98] * 1000,
            )
    return measured


async def _statements(env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """SQL statements and transactions per webhook message, its reply sent, counted in
    this process on one worker's app (after each chat's first message)."""
    from bot.server import configured_channels, create_app

    bot = await asyncio.to_thread(start, Settings.from_env(env))
    app = create_app(bot, retry_every=3600, channels=configured_channels(bot))
    statements = Statements(bot)
    per_message = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client,
        ):
            for platform in _PLATFORMS:
                for number in range(120):  # Telegram's first 100 wait for predecessors
                    body, headers = platform.request(number % 20, "/help")
                    if number == 100:
                        statements.taken()
                    response = await client.post(platform.path, content=body, headers=headers)
                    assert response.status_code == 200
                sql, transactions = statements.taken()
                per_message[platform.name] = (sql / 20, transactions / 20)
    finally:
        await bot.close()
    return per_message


def _worker_env(url: str, folder: str, telegram_api: str, line_api: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "DATABASE_URL": url,
        "NETANSWER_KEY_FILE": str(Path(folder) / "keys.json"),
        "NETANSWER_RATE_LIMIT": "100000",
        "TELEGRAM_BOT_TOKEN": "123456:TEST-token_for-the-stand-in",
        "TELEGRAM_WEBHOOK_SECRET": _TELEGRAM_SECRET,
        "TELEGRAM_API_BASE_URL": telegram_api,
        "TELEGRAM_MESSAGES_PER_SECOND": "1000",
        "LINE_CHANNEL_SECRET": _LINE_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": "line-channel-access-token-for-the-stand-in",
        "LINE_API_BASE_URL": line_api,
        "PUBLIC_URL": "https://bot.example.jp",
    }


def _store_conversations(url: str, count: int) -> None:
    """``count`` Telegram conversations in the card step, inserted directly."""
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("DELETE FROM conversations WHERE user_id >= :first"),
            {"first": str(_TELEGRAM_USERS + _STORED)},
        )
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO conversations (channel, user_id, flow, state, slots, lang,"
                " lang_chosen, started_at, updated_at, minute_count)"
                " SELECT 'telegram', (:first + n)::text, 'enrollment', 'card', '{}', 'ja', false,"
                " now(), now(), 0 FROM generate_series(0, :count - 1) AS n"
            ),
            {"count": count, "first": _TELEGRAM_USERS + _STORED},
        )
    engine.dispose()


async def _memory(env: dict[str, str], stored: int, messages: int) -> int:
    """A worker's resident memory after answering ``messages`` messages of
    :data:`_CHATS` of the ``stored`` conversations."""
    _store_conversations(env["DATABASE_URL"], stored)
    workers = _Workers(env, 1)
    try:
        workers.wait_ready()
        async with httpx.AsyncClient(timeout=30) as client:
            load = _Load(client, workers, _PLATFORMS[0], first=_STORED)
            await load.rate(messages)
            await _drained(env["DATABASE_URL"])
        return workers.rss_kib()
    finally:
        workers.stop()


async def _floor(url: str, folder: str) -> float:
    settings = Settings.from_env({"DATABASE_URL": url, "NETANSWER_KEY_FILE": f"{folder}/k.json"})
    bot = await asyncio.to_thread(start, settings)
    try:
        return await floor_rate(bot, 20)
    finally:
        await bot.close()


@contextmanager
def _stand_ins_running() -> Iterator[tuple[str, str]]:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=_stand_ins, args=(ready,), daemon=True)
    process.start()
    try:
        yield ready.get(timeout=30)
    finally:
        process.terminate()
        process.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL URL")
    parser.add_argument("--messages", type=int, default=3_000, help="per throughput run")
    parser.add_argument("--rate", type=int, default=200, help="messages/s offered for latency")
    parser.add_argument("--seconds", type=float, default=5, help="of the latency run")
    parser.add_argument("--chats", type=int, default=500, help="distinct chats")
    args = parser.parse_args()
    global _CHATS
    _CHATS = args.chats
    with (
        tempfile.TemporaryDirectory() as folder,
        scratch(args.database_url, folder) as url,
        _stand_ins_running() as (telegram_api, line_api),
    ):
        env = _worker_env(url, folder, telegram_api, line_api)
        print(f"database: {url.split('?')[0]}, {_CHATS} chats, {_CONCURRENCY} requests at once")
        runs = {}
        for count in (1, 2):
            workers = _Workers(env, count)
            try:
                workers.wait_ready()
                runs[count] = asyncio.run(
                    _measure(env, workers, args.messages, args.rate, args.seconds)
                )
            finally:
                workers.stop()
            for name, m in runs[count].items():
                print(
                    f"  {name:8} {count} worker(s): {m.answered:5.0f} messages/s answered, "
                    f"{m.sent:5.0f}/s with every reply sent, {m.cpu:4.1f} ms of worker CPU "
                    f"each; at {args.rate}/s offered: p50 {m.p50:5.0f} ms, p99 {m.p99:5.0f} "
                    f"ms, {m.refused} not answered 200; at {m.carried:.0f}/s: p50 "
                    f"{m.carried_p50:4.0f} ms, p99 {m.carried_p99:4.0f} ms",
                    flush=True,
                )
        for platform in _PLATFORMS:
            one, two = runs[1][platform.name], runs[2][platform.name]
            print(f"  {platform.name:8} 2 workers / 1 worker: {two.sent / one.sent:.2f}")
        for name, (sql, transactions) in asyncio.run(_statements(env)).items():
            print(
                f"  {name:8} per message: {sql:.1f} SQL statements in "
                f"{transactions:.1f} transactions"
            )
        floor = asyncio.run(_floor(url, folder))
        print(f"  bare database transaction (20 chats at once): {floor:.0f}/s")
        for stored in (1_000, 100_000):
            rss = asyncio.run(_memory(env, stored, args.messages))
            print(
                f"  a worker's resident memory, {stored:7,} conversations stored: "
                f"{rss / 1024:.0f} MiB"
            )


if __name__ == "__main__":
    main()
