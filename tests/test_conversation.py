"""Conversation-wide behaviour: commands in every state, resuming, the idle limit."""

import asyncio

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.runtime import start
from flows.enrollment import UNFINISHED
from storage.models import Conversation, TranscriptEntry
from tests.conftest import Chat, Clock
from tests.enroll import EMAIL, PASSWORD, VISA, to_code, to_email, to_password, walk_to


async def _slots(chat: Chat) -> dict:
    async with chat.bot.database.transaction() as session:
        row = await session.scalar(select(Conversation).where(Conversation.user_id == chat.user))
    assert row is not None
    return row.slots


@pytest.mark.parametrize("state", sorted(UNFINISHED))
async def test_cancel_works_in_every_state_and_wipes_what_was_entered(
    chat: Chat, state: str
) -> None:
    await walk_to(chat, state)
    await chat.send("/cancel")
    assert chat.keys == ["cancelled", "ask.closed"] and chat.state == "closed"
    assert await _slots(chat) == {}


@pytest.mark.parametrize("state", ["expiry", "password", "confirm"])
async def test_start_restarts_from_the_card_number(chat: Chat, state: str) -> None:
    await walk_to(chat, state)
    await chat.send("/start")
    assert chat.keys == ["restarted", "ask.card"] and chat.state == "card"
    assert await _slots(chat) == {}


@pytest.mark.parametrize("state", ["card", "code", "password", "email", "terms", "otp"])
async def test_help_explains_the_current_step_and_asks_again(chat: Chat, state: str) -> None:
    await walk_to(chat, state)
    await chat.send("/help")
    assert chat.keys == [f"help.{state}", f"ask.{state}"] and chat.state == state


async def test_japanese_keywords_work_as_commands(chat: Chat) -> None:
    await walk_to(chat, "code")
    await chat.send("ヘルプ")
    assert chat.keys[0] == "help.code"
    await chat.send("キャンセル")
    assert chat.state == "closed"


async def test_cancel_after_completion_cancels_nothing(chat: Chat) -> None:
    await walk_to(chat, "wallet")
    await chat.send("/cancel")
    assert chat.keys == ["nothing_to_cancel", "ask.wallet"] and chat.state == "wallet"


async def test_cancel_with_nothing_to_cancel(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send("/cancel")
    await chat.send("/cancel")
    assert chat.keys == ["nothing_to_cancel", "ask.closed"]


async def test_english_conversation(chat: Chat) -> None:
    chat.lang = "en"
    await chat.send("/start")
    assert chat.texts[0].startswith("Hello")
    await chat.send("4980 0012 3456 7001")
    assert chat.texts == [
        "The card number seems to contain a mistake. Please check it.",
        "Please enter your card number (14-16 digits). Spaces, hyphens and full-width digits "
        "are fine.",
    ]


async def test_a_restarted_process_continues_where_the_member_was(
    chat: Chat, settings: Settings, clock: Clock
) -> None:
    await to_email(chat)
    await chat.bot.close()
    again = await asyncio.to_thread(start, settings, clock=clock)
    try:
        resumed = Chat(again, user=chat.user)
        await resumed.send(EMAIL)
        assert resumed.state == "newsletter"
    finally:
        await again.close()


async def test_coming_back_within_30_minutes_continues(chat: Chat, clock: Clock) -> None:
    await to_code(chat)
    clock.advance(minutes=29)
    await chat.send(VISA.code)
    assert chat.state == "email"


async def test_an_enrollment_idle_for_30_minutes_restarts_and_wipes_card_data(
    chat: Chat, clock: Clock
) -> None:
    await to_code(chat)
    assert "card_token" in await _slots(chat)
    clock.advance(minutes=31)
    await chat.send(VISA.code)
    assert chat.keys == ["expired", "ask.card"] and chat.state == "card"
    assert await _slots(chat) == {}


async def test_opening_the_chat_greets_new_and_returning_members(chat: Chat) -> None:
    from adapters.channels.channel import Inbound, Kind

    first = await chat.bot.engine.handle(Inbound("console", "opener", "e1", kind=Kind.OPENED))
    assert [r.key for r in first.replies] == ["welcome", "ask.card"]
    again = await chat.bot.engine.handle(Inbound("console", "opener", "e2", kind=Kind.OPENED))
    assert [r.key for r in again.replies] == ["welcome.back", "ask.card"]
    await chat.bot.engine.handle(Inbound("console", "opener", "e3", text="/cancel"))
    ended = await chat.bot.engine.handle(Inbound("console", "opener", "e4", kind=Kind.OPENED))
    assert [r.key for r in ended.replies] == ["welcome", "ask.card"] and ended.state == "card"


async def test_a_redelivered_event_is_handled_once(chat: Chat) -> None:
    from adapters.channels.channel import Inbound

    event = Inbound("console", "twice", "same-id", text="/start")
    first = await chat.bot.engine.handle(event)
    second = await chat.bot.engine.handle(event)
    assert first.replies and second.duplicate and not second.replies
    async with chat.bot.database.transaction() as session:
        entries = (await session.scalars(select(TranscriptEntry))).all()
    assert [entry.direction for entry in entries] == ["in", "out", "out"]


async def test_transcript_holds_typed_placeholders_not_secrets(chat: Chat) -> None:
    await to_password(chat)
    await chat.send(PASSWORD)
    async with chat.bot.database.transaction() as session:
        entries = (
            await session.scalars(select(TranscriptEntry).order_by(TranscriptEntry.id))
        ).all()
    inputs = [entry.body.get("text") for entry in entries if entry.direction == "in"][1:]
    assert entries[0].body == {"command": "start"}
    assert inputs == [
        "⟨card:visa:16:luhn-ok⟩",
        "⟨expiry:ok⟩",
        "⟨cvc:3:match⟩",
        EMAIL,
        None,  # the newsletter button
        "⟨password:11:ok⟩",
    ]


async def _inputs(chat: Chat) -> list[object]:
    async with chat.bot.database.transaction() as session:
        entries = (
            await session.scalars(select(TranscriptEntry).order_by(TranscriptEntry.id))
        ).all()
    return [entry.body for entry in entries]


async def test_refused_input_is_kept_as_what_was_wrong_never_as_typed(chat: Chat) -> None:
    await walk_to(chat, "expiry")
    await chat.send("12/29 123")  # the code typed along with the expiry
    await chat.send(VISA.expiry)
    await chat.send(VISA.code)
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)  # the password again, at the email step
    assert chat.keys == ["email.invalid", "ask.email"]
    assert PASSWORD not in " ".join(chat.texts)
    bodies = str(await _inputs(chat))
    assert "⟨invalid:expiry.format⟩" in bodies and "⟨invalid:email.invalid⟩" in bodies
    assert (
        "123" not in bodies.replace("⟨", " ").replace("⟩", " ").split() and PASSWORD not in bodies
    )


async def test_text_at_a_button_step_is_not_kept(chat: Chat) -> None:
    await walk_to(chat, "terms")
    await chat.send("8642")  # a PIN where only buttons are understood
    assert chat.keys == ["choose.one", "ask.terms"]
    assert "8642" not in str(await _inputs(chat))


async def test_a_password_that_looks_like_a_command_is_a_password(chat: Chat) -> None:
    await walk_to(chat, "password")
    outcome = await chat.send("Cancel@2024xy")
    assert chat.state == "repeat" and outcome.secret_input
    await chat.send("/cancel")
    assert chat.state == "closed"


async def test_abandoned_enrollments_are_wiped_without_the_member_returning(
    chat: Chat, clock: Clock
) -> None:
    await walk_to(chat, "repeat")  # card data, a password hash and its marks are held
    opened = Chat(chat.bot, user="only-looked")  # a welcome and nothing typed: kept
    await opened.send("/start")
    fresh = Chat(chat.bot, user="still-typing")
    await walk_to(fresh, "expiry")
    clock.advance(minutes=20)
    await fresh.send(VISA.expiry)
    clock.advance(minutes=11)
    assert await chat.bot.engine.expire_idle() == 1
    assert await _slots(chat) == {"expired": True}
    assert "card_token" in await _slots(fresh)
    await opened.send(VISA.number)
    assert opened.keys[0] == "card.accepted"
    await chat.send(PASSWORD)  # the member comes back much later
    assert chat.keys == ["expired", "ask.card"] and chat.state == "card"
    assert await chat.bot.engine.expire_idle() == 0
