"""Flows as registered units: a conversation records its flow, enrollment hands over to
the member flow, and a flow's declaration is checked where it could go wrong."""

from typing import Any, TypedDict

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import select

from adapters.channels.channel import Inbound, Kind
from bot.enrollment import HANDLERS as ENROLLMENT_HANDLERS
from bot.handlers import Flows, Handlers
from bot.membership import HANDLERS as MEMBER_HANDLERS
from bot.runtime import Runtime
from bot.signin import HANDLERS as SIGNIN_HANDLERS
from bot.turn import Turn
from flows.dialogue import Dialogue
from flows.enrollment import ENROLLMENT
from flows.flow import Flow, Step
from storage import schema
from storage.database import sync_url
from storage.models import Conversation
from tests.conftest import Chat
from tests.enroll import VISA, enroll, walk_to


async def _flow_of(bot: Runtime, user: str) -> tuple[str, str]:
    async with bot.database.transaction() as session:
        row = (
            await session.scalars(select(Conversation).where(Conversation.user_id == user))
        ).one()
        return row.flow, row.state


async def test_completing_enrollment_moves_the_conversation_to_the_member_flow(
    chat: Chat,
) -> None:
    await walk_to(chat, "otp")
    assert await _flow_of(chat.bot, chat.user) == ("enrollment", "otp")
    await chat.send(await chat.passcode())
    await chat.send(choice="wallet:later")
    assert chat.state == "member" and chat.keys[-1] == "ask.member"
    assert await _flow_of(chat.bot, chat.user) == ("member", "member")
    await chat.send("/help")
    assert chat.keys == ["help.member", "ask.member"]
    await chat.send("/cancel")  # nothing unfinished in the member flow
    assert chat.keys == ["nothing_to_cancel", "ask.member"]
    await chat.send("/start")  # another card: back to the entry flow, nothing kept
    assert chat.keys == ["welcome", "ask.card"]  # nothing unfinished was erased
    assert "消去" not in chat.texts[0]
    assert await _flow_of(chat.bot, chat.user) == ("enrollment", "card")


async def test_a_member_who_comes_back_is_greeted_in_the_member_flow(chat: Chat) -> None:
    await enroll(chat)
    opened = await chat.bot.engine.handle(Inbound("console", chat.user, "again", kind=Kind.OPENED))
    assert [reply.key for reply in opened.replies] == ["welcome.back", "ask.member"]


async def _nothing(turn: Turn, answer: str) -> None:
    return None


def _one_step_flow(**rest: Any) -> Flow:
    class Slots(TypedDict, total=False):
        note: str

    fields: dict[str, Any] = {
        "name": "probe",
        "title": "probe",
        "steps": {"only": Step("ask.member", "help.member")},
        "transitions": [],
        "start": "only",
        "dialogue": Dialogue,
        "slots": Slots,
    }
    return Flow(**{**fields, **rest})


def test_every_state_needs_exactly_one_handler() -> None:
    with pytest.raises(ValueError, match="handlers and steps differ"):
        Handlers(ENROLLMENT, {state: _nothing for state in list(ENROLLMENT.steps)[:-1]})
    with pytest.raises(ValueError, match="handlers and steps differ"):
        Handlers(_one_step_flow(), {"only": _nothing, "other": _nothing})


def test_a_flow_may_hand_over_only_to_a_registered_flow() -> None:
    with pytest.raises(ValueError, match=r"unknown (member|signin)"):
        Flows(ENROLLMENT_HANDLERS)
    with pytest.raises(ValueError, match="unknown signin"):
        Flows(ENROLLMENT_HANDLERS, MEMBER_HANDLERS)
    Flows(ENROLLMENT_HANDLERS, MEMBER_HANDLERS, SIGNIN_HANDLERS)


def test_unfinished_states_must_be_states_of_the_flow() -> None:
    with pytest.raises(ValueError, match="unknown states"):
        _one_step_flow(unfinished=frozenset({"elsewhere"}))


async def test_a_slot_the_flow_does_not_declare_fails_the_turn_and_keeps_nothing(
    chat: Chat,
) -> None:
    async def keeps_too_much(turn: Turn, answer: str) -> None:
        turn.slots["undeclared"] = answer

    await walk_to(chat, "expiry")
    engine = chat.bot.engine
    handlers = dict(engine.flows["enrollment"].by_state)
    handlers["expiry"] = keeps_too_much
    engine.flows = Flows(Handlers(ENROLLMENT, handlers), MEMBER_HANDLERS, SIGNIN_HANDLERS)
    await chat.send("12/29")
    assert chat.last is not None and chat.last.failed
    assert await _flow_of(chat.bot, chat.user) == ("enrollment", "expiry")


def test_the_migration_puts_enrolled_members_in_the_member_flow(database_url: str) -> None:
    config = schema._config(database_url)
    command.upgrade(config, "0003")
    engine = sqlalchemy.create_engine(sync_url(database_url))
    insert = sqlalchemy.text(
        "INSERT INTO conversations (channel, user_id, state, slots, lang, started_at, "
        "updated_at) VALUES ('console', :user, :state, '{}', 'ja', :at, :at)"
    )
    with engine.begin() as connection:
        for user, state in (("enrolled", "member"), ("enrolling", "email")):
            connection.execute(insert, {"user": user, "state": state, "at": "2026-11-24"})
    schema.upgrade(database_url)
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text("SELECT user_id, flow FROM conversations"))
        assert dict(rows.all()) == {"enrolled": "member", "enrolling": "enrollment"}
    engine.dispose()


async def test_a_linked_member_who_cancels_a_new_enrollment_is_back_home(chat: Chat) -> None:
    await enroll(chat)
    await chat.send("/start")  # another card
    await chat.send(VISA.number)
    await chat.send("/cancel")
    assert chat.keys == ["cancelled", "ask.member"] and chat.state == "member"
    assert await _flow_of(chat.bot, chat.user) == ("member", "member")


async def test_a_state_left_by_an_older_release_is_taken_up(chat: Chat) -> None:
    await enroll(chat)
    async with chat.bot.database.transaction() as session:
        row = (
            await session.scalars(select(Conversation).where(Conversation.user_id == chat.user))
        ).one()
        row.flow = "enrollment"  # an older worker wrote the exit state into the old flow
    await chat.send("/help")
    assert chat.keys == ["help.member", "ask.member"]
    async with chat.bot.database.transaction() as session:
        row = (
            await session.scalars(select(Conversation).where(Conversation.user_id == chat.user))
        ).one()
        row.flow, row.state = "enrollment", "no-such-state"
    await chat.send("/help")
    assert chat.keys == ["help.card", "ask.card"]
