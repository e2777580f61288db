"""Charts of sent replies, drawn once per reply: LINE fetches a chart's address whenever
the member's app shows it (and may come back for it), and each drawing costs matplotlib
a tenth of a second of CPU. The last :data:`KEPT` pictures stay in this worker's memory
(about 25 kB each); fetches of one reply at the same moment share one drawing.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

KEPT = 64


class Pictures:
    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._drawn: OrderedDict[int, asyncio.Future[bytes]] = OrderedDict()

    async def of(self, reply_id: int, draw: Callable[[], Awaitable[bytes]]) -> bytes:
        """The reply's picture, drawn by ``draw`` unless it was drawn before."""
        found = self._drawn.get(reply_id)
        if found is None:
            found = asyncio.ensure_future(draw())
            self._drawn[reply_id] = found
            if len(self._drawn) > self._kept:
                self._drawn.popitem(last=False)
        else:
            self._drawn.move_to_end(reply_id)
        try:
            # Shielded: a fetch that is cut off does not cut the drawing others wait for.
            return await asyncio.shield(found)
        except Exception:
            if self._drawn.get(reply_id) is found:  # a failed drawing is tried again
                del self._drawn[reply_id]
            raise
