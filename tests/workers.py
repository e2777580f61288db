"""Real ``netanswer-bot`` processes for the tests: ``serve`` on free loopback ports
(any number of them on one database) and the background ``worker``; each can be
stopped with SIGTERM, killed with SIGKILL and started again."""

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

COMMAND = str(Path(sys.executable).parent / "netanswer-bot")
STARTED_WITHIN = 60.0  # seconds; several processes importing at once on two cores


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """One ``netanswer-bot`` process with ``arguments`` and ``env`` (added to this
    process's environment)."""

    def __init__(self, *arguments: str, env: Mapping[str, str]) -> None:
        self.arguments = arguments
        self.env = {**os.environ, **env}
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            COMMAND, *self.arguments, env=self.env, stdin=asyncio.subprocess.DEVNULL
        )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> None:
        """SIGKILL: no shutdown, requests under way are cut mid-turn."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self, within: float = 15.0) -> tuple[int, float]:
        """SIGTERM; returns the exit code and the seconds the process took to end."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), within)
        return code, time.monotonic() - began

    async def close(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.kill()
            await self.process.wait()


class Server(Process):
    """``netanswer-bot serve`` on a port of its own."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.port = free_port()
        super().__init__("serve", "--host", "127.0.0.1", "--port", str(self.port), env=env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, within: float = STARTED_WITHIN) -> None:
        """Wait until ``/healthz`` answers 200."""
        began = time.monotonic()
        async with httpx.AsyncClient(base_url=self.url) as client:
            while True:
                assert self.running, f"serve on port {self.port} ended"
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                assert time.monotonic() - began < within, f"serve on {self.port} did not start"
                await asyncio.sleep(0.2)


async def serving(count: int, env: Mapping[str, str]) -> list[Server]:
    """``count`` serve processes on one database, started and answering. The schema
    must be current before (``runtime.start`` of the test, or ``db upgrade``): processes
    starting at once would race in the migration."""
    servers = [Server(env) for _ in range(count)]
    for server in servers:
        await server.start()
    await asyncio.gather(*(server.ready() for server in servers))
    return servers
