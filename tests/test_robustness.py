"""Bad input of any shape, in every state: a clear answer, the same question again,
nothing lost. And a failing dependency never shows a member a stack trace."""

import pytest
from sqlalchemy import select

from adapters.channels.channel import Inbound
from flows.enrollment import STEPS
from storage.models import Conversation, TranscriptEntry
from tests.conftest import Chat
from tests.enroll import PASSWORD, REGISTERED, VISA, to_code, walk_to

NASTY = [
    "",
    "　",
    "😀" * 2000,
    "x" * 100_000,
    "\x00\x01\x1b[2J",
    "' OR 1=1; DROP TABLE members; --",
    "<script>alert(1)</script>",
    "/unknown",
    "ｱｲｳｴｵ",
    "\u202egnp.exe",
    "\ud800\udfff",  # lone surrogates, as JSON's "\ud800" escapes parse
    '{"choice": "terms:agree"}',
]


async def _slots(chat: Chat) -> dict:
    async with chat.bot.database.transaction() as session:
        row = await session.scalar(select(Conversation).where(Conversation.user_id == chat.user))
    assert row is not None
    return row.slots


@pytest.mark.parametrize("state", sorted(set(STEPS) - {"member", "closed", "repeat"}))
async def test_nasty_input_gets_an_answer_and_the_same_question(chat: Chat, state: str) -> None:
    if state == "reregister":
        await to_code(chat, REGISTERED)
        await chat.send(REGISTERED.code)
    else:
        await walk_to(chat, state)
    before = await _slots(chat)
    for text in NASTY:
        await chat.send(text)
        assert chat.state == state, text[:20]
        assert chat.keys[-1] == f"ask.{state}" and len(chat.keys) >= 2, (text[:20], chat.keys)
        assert all(chat.texts)
    after = await _slots(chat)
    assert after.keys() == before.keys() or state == "otp"  # otp counts the wrong tries


@pytest.mark.parametrize("text", NASTY[:4])
async def test_anything_but_the_same_password_again_means_choosing_anew(
    chat: Chat, text: str
) -> None:
    await walk_to(chat, "repeat")
    await chat.send(text)
    assert chat.keys == ["repeat.mismatch", "ask.password"] and chat.state == "password"


async def test_a_pressed_button_of_another_step_is_not_taken(chat: Chat) -> None:
    await walk_to(chat, "card")
    await chat.send(choice="confirm:ok")
    assert chat.keys == ["choose.one", "ask.card"] or chat.keys == ["unreadable", "ask.card"]
    assert chat.state == "card"


class _BrokenIssuer:
    async def verify_card(self, *args: object) -> None:
        raise ConnectionError("issuer unreachable")

    cardholder = verify_pin = account = verify_card


async def test_a_failing_issuer_gets_an_apology_and_nothing_is_lost(chat: Chat) -> None:
    await to_code(chat)
    engine = chat.bot.engine
    working = engine.services
    engine.services = working.__class__(**{**working.__dict__, "issuer": _BrokenIssuer()})
    event = Inbound("console", chat.user, "flaky-1", text=VISA.code)
    failed = await engine.handle(event)
    assert [reply.key for reply in failed.replies] == ["trouble"]
    assert "Traceback" not in str(failed.replies)
    engine.services = working
    retried = await engine.handle(event)  # the same event again: it was not used up
    assert retried.state == "email"


@pytest.mark.parametrize(
    ("state", "after"), [("repeat", "password"), ("signin_password", "signin_id")]
)
async def test_a_lone_surrogate_where_a_password_is_checked_is_a_wrong_password(
    chat: Chat, state: str, after: str
) -> None:
    """A JSON body's "\\ud800" parses to a character no encoder takes: the channels'
    events carry U+FFFD instead, so the password check just fails."""
    await walk_to(chat, state)
    await chat.send(PASSWORD + "\ud800")
    assert chat.last is not None and not chat.last.failed
    assert chat.state == after and "trouble" not in chat.keys


async def test_a_card_number_sent_as_a_buttons_data_is_not_kept(chat: Chat) -> None:
    """A client may send any data as a pressed button's (the web chat's socket does):
    the transcript keeps it redacted like text, and a real button's data as it is."""
    await chat.send("/start")
    await chat.send(choice=VISA.number)
    await chat.send(choice="welcome:enroll")
    async with chat.bot.database.transaction() as session:
        bodies = [entry.body for entry in await session.scalars(select(TranscriptEntry))]
    choices = [body["choice"] for body in bodies if "choice" in body]
    assert choices == ["⟨card:visa:16:luhn-ok⟩", "welcome:enroll"]
