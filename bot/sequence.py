"""What one worker knows of a channel's events when the platform numbers every event
of the bot one after another (Telegram's update_id): which numbers have arrived, here
or (as the database said) at another worker, and which events of each chat this
worker holds right now.

With it, most events go straight into their turn: their predecessors are known to have
arrived without a query, and an earlier event of the same chat held here is waited for
in memory. Only what this worker has not seen is asked of the database.
"""

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

#: Numbers this far below the highest seen are forgotten (asked of the database again
#: should an event that old still come).
_MEMORY_REACHES = 10


class Sequence:
    def __init__(self, reach: int) -> None:
        self.reach = reach  # how many events may be on their way at once
        self._known: set[int] = set()
        self._top = 0
        self._held: dict[str, list[tuple[int, asyncio.Event]]] = {}

    def missing(self, position: int) -> list[int]:
        """The numbers within reach before ``position`` not known to have arrived."""
        first = max(0, position - self.reach)
        return [number for number in range(first, position) if number not in self._known]

    def learn(self, positions: Iterable[int]) -> None:
        """These numbers have arrived (anywhere)."""
        self._known.update(positions)
        top = max(self._known, default=0)
        if top > self._top + self.reach:  # trimmed now and then, not on every event
            self._top = top
            floor = top - _MEMORY_REACHES * self.reach
            self._known = {number for number in self._known if number >= floor}

    def earlier_held(self, user_id: str, position: int) -> bool:
        """Whether this worker holds an event of the chat numbered before ``position``
        (one that arrived after it, or is still being applied)."""
        return any(number < position for number, _ in self._held.get(user_id, ()))

    @asynccontextmanager
    async def hold(self, user_id: str, position: int) -> AsyncIterator[None]:
        """Hold the event (it has arrived) until the block ends, after this worker's
        earlier events of the same chat have been let go."""
        self.learn((position,))
        chat = self._held.setdefault(user_id, [])
        earlier = [done for number, done in chat if number < position]
        mine = (position, asyncio.Event())
        chat.append(mine)
        try:
            for done in earlier:
                await done.wait()
            yield
        finally:
            mine[1].set()
            chat.remove(mine)
            if not chat:
                del self._held[user_id]
