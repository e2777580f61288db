"""A transaction cut by the turn deadline or any other cancellation, on PostgreSQL: the
connection it was using is never handed to the next transaction in an unknown state.

Cut in the middle of a statement, the connection is dropped (SQLAlchemy invalidates a
connection whose statement was interrupted by a cancellation, and psycopg cancels the
query on the server first) and the pool opens a fresh one; cut between statements, it
is rolled back and reused. Either way the next transactions on the same small pool
work and the statement does not go on running on the server."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text

from bot.deadlines import Overdue, within
from storage import database
from storage.database import Database

_CUTS: dict[str, Callable[[Awaitable[Any]], Awaitable[Any]]] = {
    "wait_for": lambda work: asyncio.wait_for(work, 0.2),
    "turn deadline": lambda work: within(0.2, work, what="turn"),
}


@pytest.fixture
async def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    monkeypatch.setattr(database, "POOL_SIZE", 1)  # one connection: the next user gets it
    monkeypatch.setattr(database, "POOL_OVERFLOW", 0)
    opened = Database(database_url)
    yield opened
    await opened.close()


async def _backend(db: Database) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def _running(db: Database, pid: int) -> str | None:
    """What the server says the backend ``pid`` is doing; None once it is gone."""
    async with db.transaction() as session:
        query = text("SELECT state FROM pg_stat_activity WHERE pid = :pid")
        state: str | None = await session.scalar(query, {"pid": pid})
        return state


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("cut", sorted(_CUTS))
async def test_a_statement_cut_midway_leaves_no_broken_connection(db: Database, cut: str) -> None:
    cut_pid: list[int] = []

    async def slow() -> None:
        async with db.transaction() as session:
            cut_pid.append(int(await session.scalar(text("SELECT pg_backend_pid()"))))
            await session.execute(text("SELECT pg_sleep(2)"))

    with pytest.raises((TimeoutError, Overdue)):
        await _CUTS[cut](slow())
    for _ in range(3):
        assert await _backend(db) != cut_pid[0]  # a fresh connection, the same each time
    assert len({await _backend(db) for _ in range(3)}) == 1
    for _ in range(50):  # the server ends the dropped backend's query, and the backend
        if await _running(db, cut_pid[0]) is None:
            break
        await asyncio.sleep(0.02)
    assert await _running(db, cut_pid[0]) is None


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_transaction_cut_between_statements_is_rolled_back(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE cut_probe (n int)"))
    wrote = asyncio.Event()

    async def stalled() -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO cut_probe VALUES (1)"))
            wrote.set()
            await asyncio.Event().wait()  # a turn waiting on something else

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stalled(), 0.2)
    assert wrote.is_set()
    async with db.transaction() as session:
        assert await session.scalar(text("SELECT count(*) FROM cut_probe")) == 0
        await session.execute(text("INSERT INTO cut_probe VALUES (2)"))
    async with db.transaction() as session:
        assert list(await session.scalars(text("SELECT n FROM cut_probe"))) == [2]
