"""Pacing outgoing messages to a platform's limits: so many a second to one chat (with a
short burst allowed) and so many a second overall. A send waits for its slot; nothing
is dropped.

Slots are reserved before waiting (the generic cell rate algorithm), so concurrent
senders in one process never overbook. Several processes each keep their own pace;
the platform's "retry after" answers cover the rest.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

_FORGET_AFTER = 10_000  # chats remembered before idle ones are forgotten


class Throttle:
    def __init__(
        self,
        *,
        per_chat: float,
        burst: int,
        overall: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._chat_interval = 1 / per_chat
        self._chat_slack = (burst - 1) * self._chat_interval
        self._all_interval = 1 / overall
        self._clock = clock
        self._sleep = sleep
        self._chats: dict[str, float] = {}
        self._all = 0.0

    async def wait(self, chat: str) -> None:
        """Return when one more message may go to ``chat``."""
        now = self._clock()
        chat_next = self._chats.get(chat, now)
        start = max(now, chat_next - self._chat_slack, self._all)
        self._chats[chat] = max(chat_next, start) + self._chat_interval
        self._all = start + self._all_interval
        if len(self._chats) > _FORGET_AFTER:
            self._forget_idle(now)
        if start > now:
            await self._sleep(start - now)

    def _forget_idle(self, now: float) -> None:
        self._chats = {chat: due for chat, due in self._chats.items() if due > now}
