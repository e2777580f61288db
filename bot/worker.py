"""``netanswer-bot worker``: the background loops of ``serve`` (outbox retries with
backoff, the idle wipe, the event-ledger pruning) in a process without HTTP, the
Procfile's ``worker``. It sends the queued replies of every configured channel, so a
reply whose send failed is delivered even while no web process is left to retry it.

On SIGTERM (or Ctrl-C) no new pass begins, a pass under way gets :data:`GRACE` seconds
to finish (a send is not cut between sending and recording), and the shutdown itself is
bounded: the process ends within 10 s whatever the database does.
"""

import asyncio
import signal

from bot.loops import RETRY_EVERY, background
from bot.runtime import Runtime
from bot.server import configured_channels, shut_down

GRACE = 3.0  # seconds a pass under way may go on after SIGTERM


async def run(runtime: Runtime, *, retry_every: float = RETRY_EVERY) -> None:
    """Run the loops until SIGTERM or SIGINT; owns ``runtime`` and closes it."""
    stop = asyncio.Event()
    events = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        events.add_signal_handler(signum, stop.set)
    channels = configured_channels(runtime)
    tasks: list[asyncio.Task[None]] = []
    try:
        for channel in channels:
            runtime.attach(channel)
            await channel.start()
        tasks = [
            asyncio.create_task(loop.run(stop))
            for loop in background(runtime, retry_every=retry_every)
        ]
        names = ", ".join(channel.name for channel in channels) or "no channel"
        print(f"netanswer-bot: worker sending for {names} (SIGTERM stops)", flush=True)
        await stop.wait()
        await asyncio.wait(tasks, timeout=GRACE)
    finally:
        await shut_down(tasks, channels, runtime)
