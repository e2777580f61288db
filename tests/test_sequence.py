"""What a worker knows of a numbered channel's events (bot/sequence.py): which numbers
arrived, and the order of its own events of one chat."""

import asyncio

from bot.sequence import Sequence


def test_numbers_within_reach_not_seen_are_missing() -> None:
    sequence = Sequence(reach=5)
    assert sequence.missing(3) == [0, 1, 2]
    sequence.learn([10, 11, 13])
    assert sequence.missing(14) == [9, 12]
    sequence.learn([9, 12])
    assert sequence.missing(14) == []


def test_numbers_far_below_the_newest_are_forgotten() -> None:
    sequence = Sequence(reach=5)
    sequence.learn(range(100, 110))
    sequence.learn(range(1000, 1010))  # far ahead: what is 50 below is dropped
    assert sequence.missing(105) == [100, 101, 102, 103, 104]
    assert sequence.missing(1008) == []


class _Events:
    """Events applied through one worker's sequence, in the order they were applied;
    a held one waits for ``release`` inside its turn."""

    def __init__(self) -> None:
        self.sequence = Sequence(reach=100)
        self.applied: list[int] = []
        self.release = asyncio.Event()

    async def apply(self, user: str, position: int, *, held: bool = False) -> None:
        async with self.sequence.hold(user, position):
            if held:
                await self.release.wait()
            self.applied.append(position)

    def start(self, user: str, position: int, *, held: bool = False) -> asyncio.Task[None]:
        return asyncio.create_task(self.apply(user, position, held=held))


async def test_a_chats_later_event_waits_for_its_earlier_one_held_here() -> None:
    events = _Events()
    earlier = events.start("chat-a", 7, held=True)
    await asyncio.sleep(0)
    later, other_chat = events.start("chat-a", 9), events.start("chat-b", 8)
    await asyncio.sleep(0.01)
    assert events.applied == [8]  # another chat does not wait
    assert events.sequence.earlier_held("chat-a", 9)
    assert not events.sequence.earlier_held("chat-a", 7)
    events.release.set()
    await asyncio.gather(earlier, later, other_chat)
    assert events.applied == [8, 7, 9]
    assert events.sequence.missing(10) == list(range(7))  # 7, 8 and 9 arrived


async def test_an_earlier_event_arriving_after_a_later_one_does_not_wait_for_it() -> None:
    events = _Events()
    later = events.start("chat", 9, held=True)
    await asyncio.sleep(0)
    await events.apply("chat", 7)  # the engine's order check sees 7 held: 9 waits there
    assert events.applied == [7]
    events.release.set()
    await later
    assert events.applied == [7, 9]


async def test_a_waiter_cut_by_its_deadline_leaves_the_chat_in_order() -> None:
    events = _Events()
    first = events.start("chat", 1, held=True)
    await asyncio.sleep(0)
    cut = events.start("chat", 2)
    await asyncio.sleep(0)
    cut.cancel()
    third = events.start("chat", 3)
    await asyncio.sleep(0.01)
    events.release.set()
    await asyncio.gather(first, third)
    assert cut.cancelled()
    assert events.applied == [1, 3]
    assert events.sequence._held == {}
