"""The background work of a serving process (outbox retries, the idle wipe, pruning),
each pass bounded in time, its failures logged, and its last good pass remembered so
``/healthz`` can tell a loop that has stopped making progress."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.deadlines import within

logger = logging.getLogger(__name__)

#: A loop is stalled after this many of its intervals without a completed pass.
STALLED_AFTER = 3


@dataclass
class Loop:
    name: str
    every: float  # seconds between passes
    work: Callable[[], Awaitable[Any]]
    deadline: float  # seconds one pass may take
    last_pass: float = field(default_factory=time.monotonic)  # or when the loop began

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
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
