"""The web chat with several worker processes: a page's socket is held by one
`netanswer-bot serve` worker, and a reply for its chat that another process queued
reaches it anyway."""

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import select

from adapters.channels.channel import Inbound
from adapters.channels.web import CHANNEL, COOKIE, SOCKET
from bot.config import Settings
from bot.runtime import Runtime, start
from flows.messages import render
from storage.models import Conversation, OutboxMessage

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")
_GUARD = 30.0  # seconds: only against a hang, no timing is claimed


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def _worker(settings: Settings) -> AsyncIterator[str]:
    """A `serve` process on the test's database; its base URL."""
    port = _free_port()
    env = {**os.environ, **settings.environ}
    process = await asyncio.create_subprocess_exec(
        _COMMAND, "serve", "--host", "127.0.0.1", "--port", str(port), env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            began = time.monotonic()
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                assert time.monotonic() - began < _GUARD, "the worker did not start"
                await asyncio.sleep(0.1)
        yield base
    finally:
        process.terminate()
        await process.wait()


@contextlib.asynccontextmanager
async def _page(base: str, cookie: str) -> AsyncIterator[Any]:
    """The chat's page connected to the worker at ``base``, past its history frame."""
    headers = {"Cookie": f"{COOKIE}={cookie}", "Origin": base}
    url = base.replace("http://", "ws://") + SOCKET
    async with websockets.connect(url, additional_headers=headers) as page:
        first = json.loads(await asyncio.wait_for(page.recv(), _GUARD))
        assert first["type"] == "history"
        yield page


async def _frame(page: Any) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(page.recv(), _GUARD))
    return frame


async def _opened(page: Any) -> None:
    """The page says it is open and reads what that brings, up to its ack."""
    await page.send(json.dumps({"type": "open", "id": uuid.uuid4().hex}))
    while (await _frame(page))["type"] != "ack":
        pass


async def _queue_help(other: Runtime, user: str) -> list[str]:
    """Another process applies the member's /help and queues its reply, as a worker
    whose push found no page leaves it: waiting for a retry (here minutes away, where
    no retry loop reaches it during the test). Returns the replies' texts."""
    inbound = Inbound(CHANNEL, user, uuid.uuid4().hex, text="/help", lang="ja")
    outcome = await other.engine.handle(inbound, route={"socket": True})
    return [render(reply, outcome.lang) for reply in outcome.replies]


async def _replies(page: Any, count: int) -> list[str]:
    frames = [await _frame(page) for _ in range(count)]
    assert {frame["type"] for frame in frames} == {"reply"}
    return [frame["text"] for frame in frames]


async def test_a_reply_queued_elsewhere_reaches_the_page_on_the_worker_holding_it(
    settings: Settings,
) -> None:
    def ahead() -> datetime:
        return datetime.now(UTC) + timedelta(minutes=10)

    other = start(settings, clock=ahead)  # migrates the database before the workers start
    try:
        async with _worker(settings) as first, _worker(settings) as second:
            async with httpx.AsyncClient() as browser:
                cookie = (await browser.get(f"{first}/")).cookies[COOKIE]
            async with _page(first, cookie) as page:
                await _opened(page)
                async with other.database.transaction() as session:
                    user = await session.scalar(
                        select(Conversation.user_id).where(Conversation.channel == CHANNEL)
                    )
                assert user is not None
                said = await _queue_help(other, user)
                assert await _replies(page, len(said)) == said
            # The page moves to the other worker (a reload behind a load balancer).
            async with _page(second, cookie) as page:
                said = await _queue_help(other, user)
                assert await _replies(page, len(said)) == said
        async with other.database.transaction() as session:
            rows = (await session.scalars(select(OutboxMessage.status))).all()
    finally:
        await other.close()
    assert set(rows) == {"sent"}
