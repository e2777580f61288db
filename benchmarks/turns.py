"""How fast the engine answers: the engine path against the bare database transaction
it cannot beat (same run, same machine) with the SQL statements each message costs,
those of every message of one enrollment, per-message latency and throughput while many
members enroll at once (argon2id at its real cost), and how long a card check takes for
each possible outcome.

    .venv/bin/python benchmarks/turns.py [--members 50] [--database-url URL]

Prints numbers; it asserts nothing. Each member runs a full enrollment of a demo card
(argon2id hashing included) through the same Engine.handle the channels call.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from sqlalchemy import event

from adapters.channels.channel import Inbound
from bot.config import Settings
from bot.runtime import Runtime, start
from storage import sandbox

_CARDS = [
    ("4980 0012 3456 7000", "12/29", "123"),
    ("5425 0012 3456 7000", "08/28", "456"),
    ("3540 0012 3456 7005", "03/30", "789"),
    ("3712 345678 90104", "05/29", "4321"),
    ("2221 0012 3456 7003", "11/31", "135"),
]


class Statements:
    """SQL statements sent to the database (SQLite's BEGIN not among them) and
    transactions begun, from attaching on."""

    def __init__(self, bot: Runtime) -> None:
        self.sql = 0
        self.transactions = 0
        engine = bot.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)

    def _statement(self, *args: object) -> None:
        if not str(args[2]).lstrip().upper().startswith("BEGIN"):
            self.sql += 1

    def _begin(self, *args: object) -> None:
        self.transactions += 1

    def taken(self) -> tuple[int, int]:
        """Statements and transactions since the last call."""
        counts = self.sql, self.transactions
        self.sql = self.transactions = 0
        return counts


async def _send(bot: Runtime, user: str, latencies: list[float], **fields: str) -> str:
    started = time.perf_counter()
    outcome = await bot.engine.handle(Inbound("bench", user, uuid.uuid4().hex, **fields))
    latencies.append(time.perf_counter() - started)
    return outcome.state


async def _enroll(bot: Runtime, n: int, latencies: list[float], hashing: list[float]) -> None:
    user = f"member-{n}"
    number, expiry, code = _CARDS[n % len(_CARDS)]
    for text in ("/start", number, expiry, code):
        state = await _send(bot, user, latencies, text=text)
    if state == "reregister":  # another member enrolled the same demo card first
        await _send(bot, user, latencies, choice="reregister:continue")
    await _send(bot, user, latencies, text=f"member{n}@example.com")
    await _send(bot, user, latencies, choice="newsletter:no")
    for text in ("Sakura2024x", "Sakura2024x"):
        await _send(bot, user, hashing, text=text)
    for choice in ("terms:agree", "confirm:ok"):
        await _send(bot, user, latencies, choice=choice)
    conversation = await _conversation(bot, user)
    async with bot.database.transaction() as session:
        sms = (await sandbox.read(session, bot.vault, conversation_id=conversation))[-1]
    passcode = next(w for w in sms.text.replace("：", " ").split() if w[:6].isdigit())[:6]
    assert await _send(bot, user, latencies, text=passcode) == "wallet"


async def _conversation(bot: Runtime, user: str) -> int:
    from storage import conversations

    async with bot.database.transaction() as session:
        row = await conversations.find(session, "bench", user)
    assert row is not None
    return row.id


async def _enrollments(settings: Settings, members: int) -> None:
    bot = await asyncio.to_thread(start, settings)
    latencies: list[float] = []
    hashing: list[float] = []  # the two password messages: argon2id dominates them
    started = time.perf_counter()
    await asyncio.gather(*(_enroll(bot, n, latencies, hashing) for n in range(members)))
    elapsed = time.perf_counter() - started
    await bot.close()
    total = len(latencies) + len(hashing)
    cut = statistics.quantiles(latencies, n=100)
    hashed = statistics.quantiles(hashing, n=100)
    print(
        f"  {members} members enrolled at once: {total} messages in {elapsed:.2f} s "
        f"= {total / elapsed:.0f} messages/s"
    )
    print(f"  enrollments with argon2id at its real cost: {members / elapsed:.1f}/s")
    print(
        f"  password messages (argon2id): p50 {hashed[49] * 1000:.0f} ms, "
        f"p95 {hashed[94] * 1000:.0f} ms"
    )
    print(
        f"  every other message:          p50 {cut[49] * 1000:.0f} ms, "
        f"p95 {cut[94] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )


_MESSAGES = 300  # per leg of the ratio


async def _engine_rate(bot: Runtime, members: int) -> float:
    """Messages/s through Engine.handle: /help, which reads, writes and answers but
    checks no card and hashes no password, from ``members`` chats at once."""

    async def chat(n: int) -> None:
        for _ in range(_MESSAGES // members):
            await bot.engine.handle(Inbound("bench", f"ratio-{n}", uuid.uuid4().hex, text="/help"))

    for n in range(members):  # the conversations exist before the clock starts
        await bot.engine.handle(Inbound("bench", f"ratio-{n}", uuid.uuid4().hex, text="/start"))
    started = time.perf_counter()
    await asyncio.gather(*(chat(n) for n in range(members)))
    return _MESSAGES // members * members / (time.perf_counter() - started)


async def floor_rate(bot: Runtime, members: int) -> float:
    """Messages/s of the least any durable engine must do per message: parse the event,
    one keyed hash, insert the event id, update the chat's row, commit."""
    key = b"k" * 32
    table = "bench_floor"
    async with bot.database.transaction() as session:
        await session.execute(sqlalchemy.text(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, n INT)"))
        await session.execute(sqlalchemy.text(f"CREATE TABLE {table}_events (id TEXT PRIMARY KEY)"))
        for n in range(members):
            await session.execute(sqlalchemy.text(f"INSERT INTO {table} VALUES ('c{n}', 0)"))

    async def chat(n: int) -> None:
        for _ in range(_MESSAGES // members):
            body = json.loads(json.dumps({"id": uuid.uuid4().hex, "text": "/help"}))
            hmac.new(key, body["text"].encode(), hashlib.sha256).hexdigest()
            async with bot.database.transaction() as session:
                await session.execute(
                    sqlalchemy.text(f"INSERT INTO {table}_events VALUES (:id)"), {"id": body["id"]}
                )
                await session.execute(
                    sqlalchemy.text(f"UPDATE {table} SET n = n + 1 WHERE id = :chat"),
                    {"chat": f"c{n}"},
                )

    started = time.perf_counter()
    await asyncio.gather(*(chat(n) for n in range(members)))
    return _MESSAGES // members * members / (time.perf_counter() - started)


async def _ratio(settings: Settings) -> None:
    bot = await asyncio.to_thread(start, settings)
    statements = Statements(bot)
    for members in (1, 20):
        floor = await floor_rate(bot, members)
        statements.taken()
        engine = await _engine_rate(bot, members)
        sql, transactions = statements.taken()
        sent = _MESSAGES // members * members + members  # the /start of each chat too
        async with bot.database.transaction() as session:
            for table in ("bench_floor", "bench_floor_events"):
                await session.execute(sqlalchemy.text(f"DROP TABLE {table}"))
        print(
            f"  {members:2} at once: engine {engine:6.0f} messages/s, "
            f"bare transaction {floor:6.0f}/s, ratio {engine / floor:.2f}, "
            f"{sql / sent:.1f} statements in {transactions / sent:.1f} transactions per message"
        )
    await bot.close()


async def _statements_per_step(settings: Settings) -> None:
    """One enrollment, alone: the statements each of its messages costs."""
    bot = await asyncio.to_thread(start, settings)
    statements = Statements(bot)
    user = "statements"
    number, expiry, code = _CARDS[0]
    steps: Counter[str] = Counter()
    transactions: Counter[str] = Counter()

    async def send(label: str, **fields: str) -> None:
        statements.taken()
        await _send(bot, user, [], **fields)
        steps[label], transactions[label] = statements.taken()

    await send("/start", text="/start")
    await send("/help", text="/help")
    for label, text in (("card", number), ("expiry", expiry), ("code", code)):
        await send(label, text=text)
    await send("email", text="member@example.com")
    await send("newsletter", choice="newsletter:no")
    await send("password", text="Sakura2024x")
    await send("password again", text="Sakura2024x")
    await send("terms", choice="terms:agree")
    await send("confirm", choice="confirm:ok")
    conversation = await _conversation(bot, user)
    async with bot.database.transaction() as session:
        sms = (await sandbox.read(session, bot.vault, conversation_id=conversation))[-1]
    passcode = next(w for w in sms.text.replace("：", " ").split() if w[:6].isdigit())[:6]
    statements.taken()
    await send("passcode", text=passcode)
    await bot.close()
    print(
        "  statements (transactions) per message: "
        + ", ".join(f"{label} {steps[label]} ({transactions[label]})" for label in steps)
    )


async def _check_times(settings: Settings) -> None:
    bot = await asyncio.to_thread(start, settings)
    causes = {
        "match": ("4980 0012 3456 7000", "12/29", "123"),
        "wrong code": ("4980 0012 3456 7000", "12/29", "999"),
        "wrong expiry": ("4980 0012 3456 7000", "11/29", "123"),
        "unknown card": ("4111 1111 1111 1111", "12/29", "123"),
        "registered card": ("4980 0033 3333 3003", "04/30", "333"),
    }
    for cause, (number, expiry, code) in causes.items():
        samples: list[float] = []
        for n in range(4):
            user = f"{cause}-{n}"
            for text in ("/start", number, expiry):
                await _send(bot, user, [], text=text)
            await _send(bot, user, samples, text=code)
        print(f"  card check, {cause:15}: median {statistics.median(samples) * 1000:6.1f} ms")
    await bot.close()


@contextmanager
def scratch(url: str | None, folder: str) -> Iterator[str]:
    """A fresh SQLite file, or a throw-away schema in the given PostgreSQL database."""
    if url is None:
        yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(url)
    with admin.begin() as connection:
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--database-url", help="PostgreSQL URL; default: a new SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, scratch(args.database_url, folder) as url:
        env = {
            "DATABASE_URL": url,
            "NETANSWER_KEY_FILE": str(Path(folder) / "keys.json"),
            "NETANSWER_RATE_LIMIT": "100000",
        }
        print(f"database: {url.split('?')[0]}, {args.members} members")
        quick = Settings.from_env({**env, "NETANSWER_CHECK_FLOOR_MS": "0"})
        asyncio.run(_ratio(quick))
        asyncio.run(_statements_per_step(quick))
        asyncio.run(_enrollments(Settings.from_env(env), args.members))
        asyncio.run(_check_times(Settings.from_env(env)))


if __name__ == "__main__":
    main()
