"""Many members, many workers, faults on the way: four ``netanswer-bot serve`` processes
on one PostgreSQL database, behind the Telegram and LINE stand-ins. The test plays the
platforms: 200 members enroll (half on each), every event is delivered twice, to two
different workers at once, and a member's events come in bursts, back to back (each as
soon as one worker accepted the one before, without waiting for any reply, the
duplicate maybe still in flight); a 503 or a cut connection is redelivered, as the
platforms do. Events of one chat at the same instant are ordered by the arrival window
(tests/channels/test_order.py); here a request may wait seconds before its worker reads
it, longer than any window, so the bursts do not rely on it. Midway one worker is
killed with SIGKILL and started again, and later the database connection is cut and
restored through a TCP proxy.

At the end every member is enrolled, every chat got exactly the messages of one clean
run (a reference member enrolled alone before the load, per channel), and every
conversation has exactly the transcript rows of that run. The counts are printed.

    PYTHONPATH=. .venv/bin/python -m pytest -s tests/channels/test_load.py
"""

import asyncio
import itertools
import json
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from adapters.sandbox_issuer import load_card
from bot.config import Settings
from bot.runtime import Runtime, start
from storage import outbox, sandbox
from storage.models import Conversation, TranscriptEntry
from tests.channels.conftest import LINE_SECRET, PUBLIC_URL, SECRET, Friend, sign
from tests.channels.line_stand_in import TOKEN as LINE_TOKEN
from tests.channels.line_stand_in import LineStandIn
from tests.channels.telegram_stand_in import BOT_USER, TOKEN, TelegramStandIn
from tests.conftest import passcode_in
from tests.faults import Mode, Proxy
from tests.workers import Server, serving

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

MEMBERS = 200
WORKERS = 4
AT_ONCE = 16  # members enrolling at the same moment
BURST = 4  # at most this many events of a member sent back to back
REDELIVER_AFTER = 0.3  # seconds before a platform sends a refused event again
REDELIVER_AT_MOST = 2.0  # the pause doubles after each refusal up to this (x1.5 at most)
CONNECTIONS = 40  # requests the platforms have open at once (Telegram's max_connections)
CUT_FOR = 2.0  # seconds the database connection stays cut
PATIENCE = 120.0  # seconds one event may take to be accepted, redeliveries included
EMAIL = "load.member@example.com"
PASSWORD = "Sakura2024x"
NETID = "⟨netid⟩"
_DESTINATION = "U0123456789abcdef0123456789abcdef"
_update_ids = itertools.count(900_000_001)


@dataclass
class Counts:
    events: int = 0
    deliveries: int = 0  # requests sent, redeliveries included
    duplicates: int = 0  # second deliveries of an event, to another worker
    unavailable: int = 0  # answered 503
    cut: int = 0  # the worker went away mid-request or refused the connection
    redeliveries: int = 0


@dataclass(frozen=True)
class Event:
    path: str
    body: bytes
    headers: dict[str, str]
    label: str  # what the member did, for a failure's report
    #: Each delivery: worker, seconds from the start when sent and answered, status.
    trace: list[str] = field(default_factory=list)


@dataclass
class Enrolling:
    """One member: the answers to send, each becoming the platform's event."""

    channel: str
    n: int
    tokens: dict[str, str]  # LINE reply token -> user, for every LINE member
    events: list[Event] = field(default_factory=list)  # as sent
    message_ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    @property
    def user_id(self) -> str:
        if self.channel == "telegram":
            return str(7_000_000 + self.n)
        return f"U{self.n:032x}"

    @property
    def netid(self) -> str:
        return f"load{self.channel[:2]}{self.n:03d}x"

    def answers(self) -> list[tuple[str, str]]:
        """Everything up to the passcode: known before the member starts."""
        card = load_card(self.n)
        return [
            ("text", "/start"),
            ("text", card.number),
            ("text", "12/29"),
            ("text", card.code),
            ("text", EMAIL),
            ("choice", "newsletter:no"),
            ("choice", "netid:own"),
            ("text", self.netid),
            ("text", PASSWORD),
            ("text", PASSWORD),
            ("choice", "terms:agree"),
            ("choice", "confirm:ok"),
        ]

    def event(self, kind: str, value: str) -> Event:
        if self.channel == "telegram":
            update = self._update(kind, value)
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            event = Event("/webhooks/telegram", json.dumps(update).encode(), headers, value[:12])
            self.events.append(event)
            return event
        friend = Friend(None, user_id=self.user_id)  # type: ignore[arg-type]
        built = friend.message(value) if kind == "text" else friend.postback(value)
        self.tokens[built["replyToken"]] = self.user_id
        body = json.dumps({"destination": _DESTINATION, "events": [built]}).encode()
        headers = {"Content-Type": "application/json", "X-Line-Signature": sign(body)}
        event = Event("/webhooks/line", body, headers, value[:12])
        self.events.append(event)
        return event

    def _update(self, kind: str, value: str) -> dict[str, Any]:
        user = {
            "id": int(self.user_id),
            "is_bot": False,
            "first_name": "Load",
            "language_code": "ja",
        }
        chat = {"id": int(self.user_id), "type": "private", "first_name": "Load"}
        update_id = next(_update_ids)
        if kind == "choice":
            query = {
                "id": f"cbq-{update_id}",
                "from": user,
                "chat_instance": str(self.n),
                "data": value,
                "message": {
                    "message_id": 1,
                    "date": 1_795_000_000,
                    "chat": chat,
                    "from": BOT_USER,
                    "text": "?",
                },
            }
            return {"update_id": update_id, "callback_query": query}
        message: dict[str, Any] = {
            "message_id": next(self.message_ids),
            "date": 1_795_000_000,
            "chat": chat,
            "from": user,
            "text": value,
        }
        if value.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(value)}]
        return {"update_id": update_id, "message": message}


class Platforms:
    """Telegram and LINE delivering webhooks to the workers: each event twice, to two
    different workers at once; whatever is not answered 200 is delivered again."""

    def __init__(self, servers: Sequence[Server], rng: random.Random) -> None:
        self.servers = servers
        self.rng = rng
        self.counts = Counts()
        self._gate = asyncio.Semaphore(CONNECTIONS)
        self.began = time.monotonic()
        self._clients = [
            httpx.AsyncClient(
                base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=64)
            )
            for server in servers
        ]

    def _traced(self, worker: int, sent: float, outcome: str) -> str:
        return f"{worker}@{sent:.2f}-{time.monotonic() - self.began:.2f}={outcome}"

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def deliver(self, events: Sequence[Event]) -> bool:
        """Deliver a member's events back to back, each to two different workers at
        once: the next event goes as soon as one worker accepted the one before, its
        duplicate maybe still in flight. Whether every delivery was accepted."""
        copies: list[asyncio.Task[bool]] = []
        for event in events:
            self.counts.events += 1
            self.counts.duplicates += 1
            workers = self.rng.sample(range(len(self.servers)), 2)
            pair = [asyncio.create_task(self.until_accepted(event, w)) for w in workers]
            copies.extend(pair)
            done, _ = await asyncio.wait(pair, return_when=asyncio.FIRST_COMPLETED)
            # A copy that gave up: the other may still be accepted.
            if not any(task.result() for task in done) and not any(await asyncio.gather(*pair)):
                break
        return all(await asyncio.gather(*copies))

    async def until_accepted(self, event: Event, worker: int) -> bool:
        """Deliver to ``worker``; while not answered 200, again after a pause that
        doubles, to another worker; False after PATIENCE."""
        began, pause = time.monotonic(), REDELIVER_AFTER
        while not await self.post(event, worker):
            if time.monotonic() - began > PATIENCE:
                return False
            self.counts.redeliveries += 1
            await asyncio.sleep(pause * self.rng.uniform(0.5, 1.5))
            pause = min(2 * pause, REDELIVER_AT_MOST)
            worker = self._other(worker)
        return True

    async def post(self, event: Event, worker: int) -> bool:
        """One delivery; True when it was answered 200."""
        self.counts.deliveries += 1
        sent = time.monotonic() - self.began
        try:
            async with self._gate:
                answer = await self._clients[worker].post(
                    event.path, content=event.body, headers=event.headers
                )
        except httpx.TransportError as error:
            self.counts.cut += 1
            event.trace.append(self._traced(worker, sent, type(error).__name__))
            return False
        event.trace.append(self._traced(worker, sent, str(answer.status_code)))
        assert answer.status_code in (200, 503), (answer.status_code, answer.text)
        self.counts.unavailable += answer.status_code == 503
        return answer.status_code == 200

    def _other(self, worker: int) -> int:
        return self.rng.choice([i for i in range(len(self.servers)) if i != worker])


class Received:
    """What each chat got from the stand-ins, in order, the member's ID made neutral."""

    def __init__(
        self, telegram: TelegramStandIn, line: LineStandIn, tokens: dict[str, str]
    ) -> None:
        self.telegram, self.line, self.tokens = telegram, line, tokens

    def chats(self) -> dict[tuple[str, str], list[str]]:
        chats: dict[tuple[str, str], list[str]] = {}
        for call in list(self.telegram.calls):
            if call.method == "sendMessage" and call.ok:
                chats.setdefault(("telegram", str(call.params["chat_id"])), []).append(
                    call.params["text"]
                )
        for line_call in list(self.line.calls):
            if line_call.endpoint not in ("reply", "push") or not line_call.ok:
                continue
            body = line_call.body
            user = body["to"] if line_call.endpoint == "push" else self.tokens[body["replyToken"]]
            texts = [message["text"] for message in body["messages"] if message["type"] == "text"]
            chats.setdefault(("line", user), []).extend(texts)
        return chats

    def of(self, member: Enrolling) -> list[str]:
        return [
            text.replace(member.netid, NETID)
            for text in self.chats().get((member.channel, member.user_id), [])
        ]


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    running = await Proxy().start()
    yield running
    await running.stop()


@pytest.fixture
def telegram_api() -> AsyncIterator[TelegramStandIn]:
    server = TelegramStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def line_api() -> AsyncIterator[LineStandIn]:
    server = LineStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def environment(
    database_url: str,
    proxy: Proxy,
    tmp_path: Path,
    telegram_api: TelegramStandIn,
    line_api: LineStandIn,
) -> dict[str, str]:
    """The workers' environment: the database through the proxy, both channels."""
    return {
        "DATABASE_URL": proxy.url(database_url),
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "NETANSWER_CHECK_FLOOR_MS": "0",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE_URL": telegram_api.base_url,
        "LINE_CHANNEL_SECRET": LINE_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
        "LINE_API_BASE_URL": line_api.base_url,
        "PUBLIC_URL": PUBLIC_URL,
    }


@pytest.fixture
async def direct(environment: dict[str, str], database_url: str) -> AsyncIterator[Runtime]:
    """The test's own view of the database, past the proxy; it migrates the schema
    before any worker starts."""
    settings = Settings.from_env({**environment, "DATABASE_URL": database_url})
    bot = await asyncio.to_thread(start, settings)
    yield bot
    await bot.close()


@pytest.fixture
async def workers(
    environment: dict[str, str], direct: Runtime, tmp_path: Path
) -> AsyncIterator[list[Server]]:
    servers = await serving(WORKERS, environment, cheap_hashing=True, logs=tmp_path)
    yield servers
    for server in servers:
        await server.close()


async def _conversation(bot: Runtime, member: Enrolling) -> Conversation | None:
    async with bot.database.transaction() as session:
        found: Conversation | None = await session.scalar(
            select(Conversation).where(
                Conversation.channel == member.channel, Conversation.user_id == member.user_id
            )
        )
        return found


async def _passcode(bot: Runtime, member: Enrolling) -> str | None:
    """The passcode the sandbox sent the member, None if none was sent within 15 s.
    The SMS leaves through the outbox after the turn's commit: a duplicate delivery of
    the confirmation can be answered 200 before the worker applying it has sent it."""
    conversation = await _conversation(bot, member)
    assert conversation is not None
    for _ in range(150):
        async with bot.database.transaction() as session:
            messages = await sandbox.read(session, bot.vault, conversation_id=conversation.id)
        if messages:
            return passcode_in(messages[-1].text)
        await asyncio.sleep(0.1)
    return None


async def _enroll(
    platforms: Platforms, bot: Runtime, member: Enrolling, rng: random.Random
) -> str | None:
    """The answers in bursts of 1 to BURST events back to back; then the passcode (read
    from the sandbox once the confirmation is applied) with the wallet question's
    answer. Returns what went wrong, if anything did."""
    answers = member.answers()
    while answers:
        size = rng.randint(1, BURST)
        burst, answers = answers[:size], answers[size:]
        events = [member.event(kind, value) for kind, value in burst]  # in the member's order
        if not await platforms.deliver(events):
            return f"an event of {[event.label for event in events]} was never accepted"
    code = await _passcode(bot, member)
    if code is None:
        conversation = await _conversation(bot, member)
        return f"no passcode was sent: the chat is at {conversation.state if conversation else '-'}"
    events = [member.event("text", code), member.event("choice", "wallet:later")]
    if not await platforms.deliver(events):
        return "the passcode or the wallet answer was never accepted"
    return None


async def _settled(bot: Runtime, members: Sequence[Enrolling], within: float) -> None:
    """Wait until no chat has a reply left to send."""
    began = time.monotonic()
    waiting = list(members)
    while waiting:
        async with bot.database.transaction() as session:
            waiting = [m for m in waiting if await outbox.pending(session, m.channel, m.user_id)]
        assert time.monotonic() - began < within, f"{len(waiting)} chats still have replies queued"
        await asyncio.sleep(0.5)


async def _steps(bot: Runtime, member: Enrolling) -> list[tuple[str, str | None, str | None]]:
    """The conversation's transcript rows: direction, state before and after."""
    conversation = await _conversation(bot, member)
    assert conversation is not None
    async with bot.database.transaction() as session:
        rows = await session.scalars(
            select(TranscriptEntry)
            .where(TranscriptEntry.conversation_id == conversation.id)
            .order_by(TranscriptEntry.id)
        )
        return [(row.direction, row.state_before, row.state_after) for row in rows]


async def _applied(bot: Runtime, member: Enrolling) -> list[str]:
    """The member's events as the transcript recorded them, in the order applied."""
    conversation = await _conversation(bot, member)
    assert conversation is not None
    async with bot.database.transaction() as session:
        rows = await session.scalars(
            select(TranscriptEntry)
            .where(
                TranscriptEntry.conversation_id == conversation.id,
                TranscriptEntry.direction == "in",
            )
            .order_by(TranscriptEntry.id)
        )
        return [f"{row.state_before}->{row.state_after} {row.body}" for row in rows]


async def _faults(
    platforms: Platforms, servers: Sequence[Server], proxy: Proxy, total: int, log: list[str]
) -> None:
    """Kill a worker a third of the way, start it again; cut the database at two thirds."""
    while platforms.counts.events < total // 3:  # noqa: ASYNC110 (a count, not an event)
        await asyncio.sleep(0.05)
    victim = servers[1]
    await victim.kill()
    log.append(f"worker on port {victim.port} killed after {platforms.counts.events} events")
    await asyncio.sleep(1)
    await victim.start()
    await victim.ready()
    log.append(f"worker on port {victim.port} back after {platforms.counts.events} events")
    while platforms.counts.events < 2 * total // 3:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    proxy.set(Mode.REFUSE)
    log.append(f"database cut after {platforms.counts.events} events")
    await asyncio.sleep(CUT_FOR)
    proxy.set(Mode.PASS)
    log.append(f"database back after {platforms.counts.events} events")


async def test_many_members_on_four_workers_through_faults_get_one_run_each(
    workers: list[Server],
    direct: Runtime,
    proxy: Proxy,
    telegram_api: TelegramStandIn,
    line_api: LineStandIn,
    tmp_path: Path,
) -> None:
    rng = random.Random(12)
    tokens: dict[str, str] = {}
    received = Received(telegram_api, line_api, tokens)
    platforms = Platforms(workers, rng)
    try:
        # The reference: one member per channel, alone, each event once, on one worker.
        references = {
            channel: Enrolling(channel, 900 + i, tokens)
            for i, channel in enumerate(("telegram", "line"))
        }
        clean = Platforms(workers[:1], rng)
        for reference in references.values():
            for kind, value in reference.answers():
                assert await clean.post(reference.event(kind, value), 0)
            code = await _passcode(direct, reference)
            assert code is not None
            for kind, value in (("text", code), ("choice", "wallet:later")):
                assert await clean.post(reference.event(kind, value), 0)
        await clean.close()
        await _settled(direct, list(references.values()), within=30)
        expected = {channel: received.of(member) for channel, member in references.items()}
        steps = {channel: await _steps(direct, member) for channel, member in references.items()}
        for channel, member in references.items():
            conversation = await _conversation(direct, member)
            assert conversation is not None and conversation.state == "member"
            assert any(NETID in text for text in expected[channel]), expected[channel]

        members = [Enrolling("telegram" if n % 2 else "line", n, tokens) for n in range(MEMBERS)]
        total = sum(len(member.answers()) + 2 for member in members)
        log: list[str] = []
        began = time.monotonic()
        faults = asyncio.create_task(_faults(platforms, workers, proxy, total, log))
        gate = asyncio.Semaphore(AT_ONCE)

        async def one(member: Enrolling) -> str | None:
            async with gate:
                return await _enroll(platforms, direct, member, random.Random(member.n))

        stuck = [
            (member.channel, member.n, problem)
            for member, problem in zip(
                members, await asyncio.gather(*(one(member) for member in members)), strict=True
            )
            if problem
        ]
        await faults
        await _settled(direct, members, within=90)
        took = time.monotonic() - began
        await asyncio.sleep(2)  # a late repeat would show now
    finally:
        await platforms.close()

    states: Counter[str] = Counter()
    wrong_replies, wrong_steps = [], []
    rows = repeated = 0
    for member in members:
        conversation = await _conversation(direct, member)
        states[conversation.state if conversation else "none"] += 1
        again = _repeats(received.of(member), expected[member.channel])
        if again is None:
            wrong_replies.append((member.channel, member.n, received.of(member)))
        repeated += again or 0
        member_steps = await _steps(direct, member)
        rows += len(member_steps)
        if member_steps != steps[member.channel]:
            wrong_steps.append((member.channel, member.n, member_steps))
    replies = sum(len(received.of(member)) for member in members)
    counts = platforms.counts
    print(
        f"\nload: {MEMBERS} members on {WORKERS} workers in {took:.1f} s; "
        f"{counts.events} events, {counts.deliveries} deliveries "
        f"({counts.duplicates} duplicates, {counts.unavailable} answered 503, "
        f"{counts.cut} cut by the killed worker, {counts.redeliveries} redeliveries); "
        f"{replies} replies received ({repeated} sent again after the kill, "
        f"{_logged_repeats(tmp_path)} repeats logged); {rows} transcript rows\n  "
        + "\n  ".join(log)
    )
    if stuck or wrong_replies or wrong_steps:
        failed = {(channel, n) for channel, n, _ in [*stuck, *wrong_replies, *wrong_steps]}
        for member in [m for m in members if (m.channel, m.n) in failed][:3]:
            print(f"{member.channel} member {member.n}: events as sent, each delivery")
            for event in member.events:
                print(f"  {event.label!r}: {' '.join(event.trace)}")
            print("  applied:", await _applied(direct, member))
            print("  received:", received.of(member))
            print("  expected:", expected[member.channel])
    assert stuck == [], stuck[:5]
    assert states == {"member": MEMBERS}, states
    assert wrong_replies == [], wrong_replies[:3]
    # Only a send the killed worker made without recording it goes again (at least
    # once, as the README says), and the worker that repeats it logs it.
    assert repeated <= _logged_repeats(tmp_path)
    assert wrong_steps == [], wrong_steps[:3]


def _repeats(received: Sequence[str], expected: Sequence[str]) -> int | None:
    """How many messages of ``received`` repeat the batch right before them (a send
    whose outcome was lost with its worker, made again); None when ``received`` is not
    ``expected`` apart from such repeats."""
    repeated = at = index = 0
    while index < len(received):
        if at < len(expected) and received[index] == expected[at]:
            at, index = at + 1, index + 1
            continue
        batch = next(
            (
                size
                for size in range(1, min(index, 10) + 1)
                if received[index - size : index] == received[index : index + size]
            ),
            None,
        )
        if batch is None:
            return None
        repeated, index = repeated + batch, index + batch
    return repeated if at == len(expected) else None


def _logged_repeats(logs: Path) -> int:
    """Replies the workers sent again because an earlier outcome was unknown: the last
    count each worker logged (it logs ``(N repeats so far)``)."""
    counts = [
        max(
            (int(found) for found in re.findall(r"\((\d+) repeats so far\)", log.read_text())),
            default=0,
        )
        for log in logs.glob("serve-*.log")
    ]
    return sum(counts)
