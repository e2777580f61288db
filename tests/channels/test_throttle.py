"""The pace of outgoing messages, on a fake clock: nothing waits in real time."""

import pytest

from adapters.channels.throttle import Throttle


class _Time:
    """A monotonic clock that moves only when the throttle sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.now += seconds


async def test_one_chat_gets_a_burst_then_one_a_second() -> None:
    time = _Time()
    throttle = Throttle(per_chat=1, burst=3, overall=1e9, clock=time, sleep=time.sleep)
    for _ in range(5):
        await throttle.wait("chat-1")
    assert [wait for wait in time.waits if wait > 0.01] == [1.0, 1.0]  # three, then 1/s
    assert time.now == pytest.approx(2.0)


async def test_other_chats_are_not_held_up_by_a_busy_one() -> None:
    time = _Time()
    throttle = Throttle(per_chat=1, burst=1, overall=1000, clock=time, sleep=time.sleep)
    await throttle.wait("chat-1")
    await throttle.wait("chat-2")
    assert time.waits == [0.001]  # only the overall spacing


async def test_overall_pace_across_chats() -> None:
    time = _Time()
    throttle = Throttle(per_chat=1, burst=3, overall=30, clock=time, sleep=time.sleep)
    for chat in range(31):
        await throttle.wait(f"chat-{chat}")
    assert round(time.now, 6) == 1.0  # 31 messages to 31 chats take a second
