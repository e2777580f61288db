"""Real ``netanswer-bot`` processes for the tests: ``serve`` on free loopback ports
(any number of them on one database) and the background ``worker``; each can be
stopped with SIGTERM, killed with SIGKILL and started again.

``python -m tests.workers ARGS`` is ``netanswer-bot ARGS`` with argon2id at its smallest
cost, for a load test whose CPU should go to the engine (what
``tests/test_password_hashing.py`` does in-process with monkeypatch); the hashes stay
argon2id and are checked the usual way."""

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

COMMAND = [str(Path(sys.executable).parent / "netanswer-bot")]
CHEAP_HASHING = [sys.executable, "-m", "tests.workers"]
STARTED_WITHIN = 60.0  # seconds; several processes importing at once on two cores


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """One ``netanswer-bot`` process with ``arguments`` and ``env`` (added to this
    process's environment)."""

    def __init__(
        self,
        *arguments: str,
        env: Mapping[str, str],
        cheap_hashing: bool = False,
        log: Path | None = None,
    ) -> None:
        self.arguments = [*(CHEAP_HASHING if cheap_hashing else COMMAND), *arguments]
        self.log = log  # where its stderr goes (appended), instead of the test's
        self.env = {**os.environ, **env}
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        with contextlib.ExitStack() as files:
            stderr = files.enter_context(self.log.open("a")) if self.log else None
            self.process = await asyncio.create_subprocess_exec(
                *self.arguments, env=self.env, stdin=asyncio.subprocess.DEVNULL, stderr=stderr
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

    def __init__(
        self, env: Mapping[str, str], *, cheap_hashing: bool = False, log: Path | None = None
    ) -> None:
        self.port = free_port()
        super().__init__(
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            env=env,
            cheap_hashing=cheap_hashing,
            log=log,
        )

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


async def serving(
    count: int, env: Mapping[str, str], *, cheap_hashing: bool = False, logs: Path | None = None
) -> list[Server]:
    """``count`` serve processes on one database, started and answering. The schema
    must be current before (``runtime.start`` of the test, or ``db upgrade``): processes
    starting at once would race in the migration."""
    servers = [
        Server(env, cheap_hashing=cheap_hashing, log=logs / f"serve-{i}.log" if logs else None)
        for i in range(count)
    ]
    for server in servers:
        await server.start()
    await asyncio.gather(*(server.ready() for server in servers))
    return servers


def _cheaply(arguments: list[str]) -> int:
    import argon2

    from bot import cli
    from storage import vault

    vault._hasher = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    return cli.main(arguments)


if __name__ == "__main__":
    sys.exit(_cheaply(sys.argv[1:]))
