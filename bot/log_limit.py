"""A log that a flood cannot grow without bound: the same message (same logger, level
and format string) is let through a few times a minute, and the rest only counted; the
count is logged as one summary line once the minute is over (with the next record that
reaches the handler, since a filter has no clock of its own).

The CLI installs it on the handlers it creates (``netanswer-bot serve`` and ``chat``).
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: How many identical messages pass per window before they are only counted.
FIRST = 5
#: The window, in seconds.
WINDOW = 60.0
_QUOTED = 120  # characters of the format string repeated in a summary
_SUMMARY = "repeat_limit_summary"  # marks the summary records, which always pass

logger = logging.getLogger(__name__)

_Key = tuple[str, int, str]


@dataclass
class _Window:
    started: float
    seen: int = 0
    level: int = logging.WARNING
    name: str = ""
    template: str = ""


class RepeatLimit(logging.Filter):
    def __init__(
        self,
        first: int = FIRST,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._first = first
        self._window = window
        self._clock = clock
        self._windows: dict[_Key, _Window] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SUMMARY, False):  # the summaries this filter logs itself
            return True
        with self._lock:
            now = self._clock()
            ended = self._close_windows(now)
            key = (record.name, record.levelno, str(record.msg))
            window = self._windows.get(key)
            if window is None:
                window = _Window(now, 0, record.levelno, record.name, str(record.msg))
                self._windows[key] = window
            window.seen += 1
            passes = window.seen <= self._first
        self._summarise(ended)
        return passes

    def _close_windows(self, now: float) -> list[_Window]:
        ended = [w for w in self._windows.values() if now - w.started >= self._window]
        for window in ended:
            del self._windows[(window.name, window.level, window.template)]
        return [window for window in ended if window.seen > self._first]

    def _summarise(self, ended: list[_Window]) -> None:
        for window in ended:
            logger.log(
                window.level,
                "%s more like this from %s in %.0fs were not logged: %.*s",
                window.seen - self._first,
                window.name,
                self._window,
                _QUOTED,
                window.template,
                extra={_SUMMARY: True},
            )


def install(handler: logging.Handler) -> logging.Handler:
    """Put the limit on ``handler`` (one handler: the summary goes to every handler)."""
    handler.addFilter(RepeatLimit())
    return handler
