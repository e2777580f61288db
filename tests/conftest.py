"""Shared fixtures: every database test runs on SQLite and, where it is reachable,
on PostgreSQL (CI sets REQUIRE_POSTGRES=1 so an unreachable server fails instead of
skipping)."""

import asyncio
import os
import random
import re
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text

from adapters.channels.channel import Inbound, Outcome
from bot.config import Settings
from bot.runtime import Runtime, start
from flows.messages import render
from storage import sandbox

# Hypothesis: by default ("ci") the same examples on every run, no deadline (a turn is
# a database transaction) and no example database, so a run can neither flake nor
# depend on the last one. HYPOTHESIS_PROFILE=fuzz draws new examples each run, many
# more of them, and keeps the failing ones in .hypothesis/ to try first next time.
hypothesis_settings.register_profile(
    "ci", deadline=None, derandomize=True, database=None, print_blob=True
)
hypothesis_settings.register_profile("fuzz", deadline=None, max_examples=1000, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        return
    if not _postgres_reachable():
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (REQUIRE_POSTGRES=1) but not reachable")
        pytest.skip("PostgreSQL not reachable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 24, 10, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Chat:
    """Drives the engine as one chat user would, rendering replies like a channel."""

    bot: Runtime
    user: str = "member-1"
    channel: str = "console"
    lang: str | None = None
    last: Outcome | None = None
    seen_sandbox: int = 0

    async def send(self, text: str | None = None, *, choice: str | None = None) -> Outcome:
        inbound = Inbound(
            self.channel, self.user, uuid.uuid4().hex, text=text, choice=choice, lang=self.lang
        )
        self.last = await self.bot.engine.handle(inbound)
        return self.last

    @property
    def state(self) -> str:
        assert self.last is not None
        return self.last.state

    @property
    def keys(self) -> list[str]:
        assert self.last is not None
        return [reply.key for reply in self.last.replies]

    @property
    def texts(self) -> list[str]:
        assert self.last is not None
        return [render(reply, self.last.lang) for reply in self.last.replies]

    async def sandbox(self) -> list[sandbox.Delivered]:
        """Messages the sandbox delivered since the last call."""
        async with self.bot.database.transaction() as session:
            messages = await sandbox.read(session, self.bot.vault, after_id=self.seen_sandbox)
        if messages:
            self.seen_sandbox = messages[-1].id
        return messages

    async def passcode(self) -> str:
        messages = await self.sandbox()
        assert messages, "no passcode was delivered"
        return passcode_in(messages[-1].text)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
            "XDG_DATA_HOME": str(tmp_path / "data"),  # the sandbox issuer's ledger among others
            "NETANSWER_CHECK_FLOOR_MS": "0",
            # Tests type far faster than members; tests/test_rate_limit.py uses the real limit.
            "NETANSWER_RATE_LIMIT": "1000",
            # Ordering is on, with a short window; tests/channels/test_order.py uses the real one.
            "NETANSWER_ORDER_WINDOW_MS": "5",
        }
    )


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[Runtime]:
    runtime = await asyncio.to_thread(start, settings, clock=clock, rng=random.Random(7))
    yield runtime
    await runtime.close()


@pytest.fixture
def chat(bot: Runtime) -> Chat:
    return Chat(bot)


def passcode_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found, "the message holds no passcode"
    return found[1]
