"""A TCP proxy a test puts between the bot and PostgreSQL, to make the database refuse,
hang, or freeze the connections already open, without touching the server itself."""

import asyncio
import contextlib
from enum import StrEnum


class Mode(StrEnum):
    PASS = "pass"  # forward everything
    REFUSE = "refuse"  # close new connections at once and drop the open ones
    BLACKHOLE = "blackhole"  # accept, never answer: new and open connections hang
    FREEZE = "freeze"  # open connections hang; new ones work


class Proxy:
    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self.mode = Mode.PASS
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: list[_Link] = []

    async def start(self) -> "Proxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, database_url: str) -> str:
        """``database_url`` (of the target) sent through the proxy."""
        host, port = self.target
        return database_url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}")

    def set(self, mode: Mode) -> None:
        self.mode = mode
        for link in self._links:
            if mode is Mode.PASS:
                link.flowing.set()
            elif mode is Mode.REFUSE:
                link.close()
            else:
                link.flowing.clear()

    async def stop(self) -> None:
        for link in self._links:
            link.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode is Mode.REFUSE:
            writer.close()
            return
        if self.mode is Mode.BLACKHOLE:  # swallowed for good, like packets into the void
            self._links.append(_Link(writer))
            await _drain_forever(reader)
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        link = _Link(writer, upstream_writer)
        self._links.append(link)
        with contextlib.suppress(asyncio.CancelledError):  # the test is over
            await asyncio.gather(
                self._pipe(reader, upstream_writer, link),
                self._pipe(upstream_reader, writer, link),
                return_exceptions=True,
            )
        link.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: "_Link"
    ) -> None:
        """One direction; when its side closes (a client process killed), the other
        side is closed too, as a direct connection would be: the server ends the
        client's session (and rolls back its transaction) at once."""
        try:
            while data := await reader.read(65536):
                await link.flowing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            link.close()


class _Link:
    def __init__(self, *writers: asyncio.StreamWriter) -> None:
        self.writers = writers
        self.flowing = asyncio.Event()
        self.flowing.set()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


async def _drain_forever(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(Exception):
        while await reader.read(65536):
            pass
