"""How ``netanswer-bot serve`` runs uvicorn: with limits against clients that are slow,
many or large on purpose.

- Each request must arrive whole (headers and body) within :data:`READ_TIMEOUT`
  seconds of its first byte, or of the connection opening; otherwise the connection
  is closed. uvicorn itself only times out an idle kept-alive connection, so a client
  that sends its headers a byte at a time would hold its socket forever.
- An idle kept-alive connection is closed after :data:`KEEP_ALIVE_TIMEOUT` seconds.
- Headers larger than :data:`MAX_HEADER_BYTES` are refused (h11's incomplete event).
- Past :data:`MAX_CONCURRENCY` open connections or running requests, uvicorn answers
  503 at once instead of queueing.
- At most :data:`BACKLOG` connections wait to be accepted.
- The process's open-file limit is raised to its hard limit at start.
- On SIGTERM, requests still running after :data:`GRACEFUL_SHUTDOWN` seconds are cut.
- A WebSocket (the web chat) is no request to read: the deadline ends with its
  upgrade; uvicorn pings it, and a frame larger than :data:`MAX_FRAME_BYTES` closes it.
"""

import asyncio
import logging
import resource
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

READ_TIMEOUT = 10.0
KEEP_ALIVE_TIMEOUT = 5
MAX_HEADER_BYTES = 16 * 1024
MAX_CONCURRENCY = 512
BACKLOG = 1024
GRACEFUL_SHUTDOWN = 3  # seconds; with the app's bounded shutdown, SIGTERM ends in < 10 s
MAX_FRAME_BYTES = 1024 * 1024  # a chat message is a few hundred bytes

logger = logging.getLogger(__name__)


class ReadDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline for reading each request."""

    read_timeout = READ_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.DONE:  # the request is in: the app has it all
            self._disarm()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()  # the socket's protocol owns the connection from here
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # the next request gets a fresh deadline
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def config(app: Any, *, host: str, port: int, verbose: bool = False) -> uvicorn.Config:
    """The uvicorn configuration ``serve`` runs ``app`` with."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info" if verbose else "warning",
        log_config=None,  # uvicorn's records go to the CLI's handler, with its repeat limit
        access_log=False,  # request lines carry one-time tokens (LINE's sign-in page)
        http=ReadDeadline,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        limit_concurrency=MAX_CONCURRENCY,
        backlog=BACKLOG,
        ws_max_size=MAX_FRAME_BYTES,
        # SIGTERM: requests still running after this are cut (their events are not
        # committed and the platforms redeliver them), then the shutdown, itself bounded.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )


def raise_file_limit() -> int:
    """Raise the soft limit of open files to the hard one; returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:
            logger.warning("open-file limit stays %s: %s", soft, type(error).__name__)
            return soft
        return hard
    return soft
