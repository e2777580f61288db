"""argon2 (0.2 s of CPU at its real cost) runs with no transaction open: while one
member's password is hashed or checked, no pooled connection is held for it and, on
SQLite, other chats' messages take the write lock and are answered."""

import asyncio
import threading
from collections.abc import Awaitable, Callable

import pytest
from argon2 import PasswordHasher

from bot.runtime import Runtime
from storage import vault
from tests.conftest import Chat
from tests.enroll import PASSWORD, to_password

NETID = "saisonvisa33"  # the sandbox's member registered before the bot (README)
SECRET = "Kumo-Sora2030"


class _HeldHasher:
    """The real hasher, except that each hash or check says it started and then waits
    until the test lets it go."""

    def __init__(self, real: PasswordHasher) -> None:
        self._real = real
        self.started = threading.Event()
        self.go = threading.Event()

    def hash(self, password: str) -> str:
        self._hold()
        return self._real.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self._hold()
        return self._real.verify(password_hash, password)

    def _hold(self) -> None:
        self.started.set()
        if not self.go.wait(20):
            raise TimeoutError("the test never let the hasher go")


async def _at_password(chat: Chat) -> None:
    await to_password(chat)


async def _at_repeat(chat: Chat) -> None:
    await to_password(chat)
    await chat.send(PASSWORD)
    assert chat.state == "repeat", chat.keys


async def _at_signin_password(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send(choice="welcome:signin")
    await chat.send(NETID)
    assert chat.state == "signin_password", chat.keys


Walk = Callable[[Chat], Awaitable[None]]


@pytest.mark.parametrize(
    ("walk", "typed", "after"),
    [
        (_at_password, PASSWORD, "repeat"),  # the new password hashed
        (_at_repeat, PASSWORD, "terms"),  # the repeat checked against the hash
        (_at_signin_password, SECRET, "signin_otp"),  # a sign-in's password checked
    ],
    ids=["password", "password-again", "sign-in"],
)
async def test_another_chat_is_answered_while_a_password_is_hashed(
    bot: Runtime, monkeypatch: pytest.MonkeyPatch, walk: Walk, typed: str, after: str
) -> None:
    member = Chat(bot)
    await walk(member)
    held = _HeldHasher(vault._hasher)
    monkeypatch.setattr(vault, "_hasher", held)
    hashing = asyncio.create_task(member.send(typed))
    assert await asyncio.to_thread(held.started.wait, 10)
    try:
        assert bot.database.engine.pool.checkedout() == 0  # no connection, no transaction
        other = Chat(bot, user="someone-else")
        await asyncio.wait_for(other.send("/start"), timeout=5)
        assert other.keys == ["welcome", "ask.card"]
        assert not hashing.done()
    finally:
        held.go.set()
    await hashing
    assert member.state == after, member.keys
