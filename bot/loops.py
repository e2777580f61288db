"""The background work of ``serve`` and ``worker`` (outbox retries, the idle wipe,
pruning), each pass bounded in time, its failures logged, and its last good pass
remembered so ``/healthz`` can tell a loop that has stopped making progress."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.deadlines import within
from bot.dispatcher import SWEEP_BUDGET
from bot.runtime import Runtime

logger = logging.getLogger(__name__)

#: A loop is stalled after this many of its intervals without a completed pass.
STALLED_AFTER = 3
RETRY_EVERY = 1.0  # seconds between sweeps of the outbox
SWEEP_EVERY = 60.0  # seconds between sweeps for idle enrollments
PRUNE_EVERY = 600.0  # seconds between prunings of the processed-event ledger


@dataclass
class Loop:
    name: str
    every: float  # seconds between passes
    work: Callable[[], Awaitable[Any]]
    deadline: float  # seconds one pass may take
    last_pass: float = field(default_factory=time.monotonic)  # or when the loop began

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Pass after pass until cancelled, or until ``stop`` is set: then a pass under
        way is finished, and no other begins."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
            if not stop.is_set():
                await self.once()

    async def once(self) -> None:
        """One pass; a failure or an overrun is logged, and the next pass tries again."""
        try:
            await within(self.deadline, _awaited(self.work), what=f"{self.name} pass")
        except Exception as error:  # the database may be away for a while
            logger.warning("%s pass failed: %s", self.name, type(error).__name__)
        else:
            self.last_pass = time.monotonic()

    def stalled(self, now: float) -> bool:
        return now - self.last_pass > STALLED_AFTER * (self.every + self.deadline)


async def _awaited(work: Callable[[], Awaitable[Any]]) -> Any:
    return await work()


def background(runtime: Runtime, *, retry_every: float = RETRY_EVERY) -> list[Loop]:
    """The loops every serving process and every ``worker`` runs; any number of
    processes may run them on one database (the outbox leases each reply)."""
    deadline = runtime.settings.db_timeout
    return [
        # A sweep starts no chat after its budget; the deadline is for a hung database.
        Loop(
            "outbox",
            retry_every,
            runtime.dispatcher.deliver_due,
            deadline=SWEEP_BUDGET + 4 * deadline,
        ),
        Loop("idle wipe", SWEEP_EVERY, runtime.engine.expire_idle, deadline=2 * deadline),
        Loop("event ledger", PRUNE_EVERY, runtime.engine.prune_events, deadline=2 * deadline),
    ]
