"""Engine and transactions. One transaction per member message; on PostgreSQL the
conversation row lock orders messages, on SQLite every transaction takes the write
lock up front (``BEGIN IMMEDIATE``) so two writers never deadlock."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as _pg_insert
from sqlalchemy.dialects.sqlite import insert as _sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def async_url(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername=_ASYNC_DRIVERS.get(parsed.get_backend_name(), parsed.drivername))


def sync_url(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername=_SYNC_DRIVERS.get(parsed.get_backend_name(), parsed.drivername))


#: Seconds to connect, to wait for a pooled connection, and for one statement or lock.
DEFAULT_TIMEOUT = 5.0
#: PostgreSQL connections a worker keeps open, and how many more it may open at a peak
#: (closed again after use): at most 15, as before, but SQLAlchemy's 5 kept made a busy
#: worker connect and disconnect all the time, each connection a TCP and auth round
#: trip and the session settings below. Six workers fit PostgreSQL's default 100.
POOL_SIZE, POOL_OVERFLOW = 10, 5
#: TCP keepalives: a connection whose peer went silent is dropped after about
#: idle + interval * count seconds, so a hung database frees the pool by itself.
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}


def sqlite_files(url: str) -> list[Path]:
    """A SQLite database's file and the files SQLite keeps beside it; none for an
    in-memory database or another kind of database."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return []
    if name.startswith("file:"):  # a URI filename
        name = name.removeprefix("file:").partition("?")[0]
        if not name or name == ":memory:":
            return []
    path = Path(name)
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


class Database:
    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.engine: AsyncEngine = _create_engine(url, timeout)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        # Cut by a cancellation (the turn deadline), a transaction never hands its
        # connection on mid-statement: psycopg cancels the query on the server and
        # SQLAlchemy drops a connection whose statement a cancellation interrupted; cut
        # between statements, it is rolled back and reused. tests/test_cut_transactions.py
        async with self._sessions() as session, session.begin():
            yield session

    async def close(self) -> None:
        await self.engine.dispose()


def _create_engine(url: str, timeout: float) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() != "sqlite":
        return _postgres_engine(target, timeout)
    engine = create_async_engine(target, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _autocommit_driver(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "handle_error")
    def _replace_read_only(context) -> None:  # type: ignore[no-untyped-def]
        # A connection opened while the file was read-only stays read-only after the
        # file is writable again: treat it like a lost connection, so SQLAlchemy drops
        # it and every pooled connection opened before it, and the next one reopens.
        if "readonly database" in str(context.original_exception):
            context.is_disconnect = True

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgres_engine(target: URL, timeout: float) -> AsyncEngine:
    # No pre-ping: it costs every transaction a round trip (two per webhook message).
    # A pooled connection the database dropped (a restart) fails its first statement
    # instead; SQLAlchemy then discards every connection pooled before it, and that one
    # turn answers 503 for the platform to redeliver (tests/channels/test_faults.py).
    engine = create_async_engine(
        target,
        pool_timeout=timeout,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        hide_parameters=True,
        connect_args={"connect_timeout": max(1, round(timeout)), **_KEEPALIVES},
    )
    milliseconds = round(timeout * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _timeouts(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # A statement or lock wait never outlasts a webhook's patience; an open
        # transaction left idle (a worker gone mid-turn) is ended by the server.
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET statement_timeout = {milliseconds}")
        cursor.execute(f"SET lock_timeout = {milliseconds}")
        cursor.execute(f"SET idle_in_transaction_session_timeout = {4 * milliseconds}")
        cursor.close()
        dbapi_connection.commit()

    return engine


def insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT of the session's dialect, so ``on_conflict_do_nothing`` is available."""
    dialect = session.get_bind().dialect.name
    return (_pg_insert if dialect == "postgresql" else _sqlite_insert)(table)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every one was written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
