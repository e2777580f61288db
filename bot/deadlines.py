"""Bounding work that waits on the database, so a database that hangs instead of
refusing cannot hold a webhook, a health check or a background loop.

``asyncio.timeout`` is not enough here: cancelling a transaction makes it roll back,
and the rollback waits on the same hung connection. The work runs as its own task
instead; past the deadline the caller stops waiting, the task is cancelled and left to
end on its own (its connection is dropped by the TCP keepalive or the server's
timeouts), and nothing of it was committed unless it committed before.
"""

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

_abandoned: set[asyncio.Task[Any]] = set()  # kept referenced until they end


class Overdue(Exception):
    """The work did not finish in time; treat the database as unavailable."""


async def within(seconds: float, work: Awaitable[T], *, what: str) -> T:
    """The result of ``work`` if it finishes within ``seconds``; otherwise raises
    :class:`Overdue` at the deadline without waiting for the work to wind down."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        _abandon(task)
        raise
    if not done:
        _abandon(task)
        raise Overdue(f"{what} took longer than {seconds:g} s")
    return task.result()


def _abandon(task: asyncio.Task[Any]) -> None:
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("abandoned work ended with %s", type(task.exception()).__name__)
