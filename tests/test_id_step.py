"""What a member types at a Net Answer ID step (sign-in's ID, enrollment's new ID) may
be their password, typed too soon or arriving before the ID: it is recorded as a
placeholder, sign-in keeps it sealed, and text that can only be a password is refused,
never repeated and deleted where the channel can."""

import json
import logging
import re
import uuid

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy import select

from adapters.channels.channel import Inbound, Outcome
from flows.messages import CATALOG
from storage import schema
from storage.database import sync_url
from storage.models import Conversation, TranscriptEntry
from storage.vault import VaultError
from tests.conftest import Chat
from tests.enroll import NETID, NETID_PASSWORD, PASSWORD, to_confirm, to_password
from tests.test_secrets import _dump_tables, _pattern

ROUTE = {"chat_id": 4242}  # queue every reply in the outbox, as a webhook channel does


class RoutedChat(Chat):
    """A chat whose replies are queued in the outbox (payload rows), as Telegram's are."""

    async def send(self, text: str | None = None, *, choice: str | None = None) -> Outcome:
        inbound = Inbound(
            self.channel, self.user, uuid.uuid4().hex, text=text, choice=choice, lang=self.lang
        )
        self.last = await self.bot.engine.handle(inbound, route=ROUTE)
        return self.last


@pytest.fixture
def routed(chat: Chat) -> RoutedChat:
    return RoutedChat(chat.bot, user="routed-member")


async def _to_signin_id(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send(choice="welcome:signin")
    assert chat.state == "signin_id"


async def _slots(chat: Chat) -> dict[str, object]:
    async with chat.bot.database.transaction() as session:
        row = (
            await session.scalars(select(Conversation).where(Conversation.user_id == chat.user))
        ).one()
        return dict(row.slots)


async def _typed_rows(chat: Chat, state: str) -> list[str]:
    """The member's recorded text at ``state``, turn by turn."""
    async with chat.bot.database.transaction() as session:
        rows = await session.scalars(
            select(TranscriptEntry)
            .where(TranscriptEntry.state_before == state, TranscriptEntry.direction == "in")
            .order_by(TranscriptEntry.id)
        )
        return [row.body.get("text") for row in rows if "text" in row.body]


def _nowhere(secret: str, tables: bytes, log: str) -> None:
    assert not _pattern(secret).search(tables), secret
    assert secret not in log


async def test_the_sign_in_password_typed_as_the_id_is_refused_and_kept_nowhere(
    routed: RoutedChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    await _to_signin_id(routed)
    outcome = await routed.send(NETID_PASSWORD)
    assert routed.state == "signin_id" and routed.keys == ["netid.password", "ask.signin_id"]
    assert outcome.secret_input  # deleted from the chat where the channel can, like a password
    assert not any(NETID_PASSWORD in text for text in routed.texts)
    # The ID arriving after it goes on as usual.
    await routed.send(NETID)
    assert routed.state == "signin_password"
    await routed.send(NETID_PASSWORD)
    assert routed.state == "signin_otp"
    assert await _typed_rows(routed, "signin_id") == [
        "⟨invalid:netid.password⟩",
        "⟨netid:unchecked⟩",
    ]
    _nowhere(NETID_PASSWORD, await _dump_tables(routed), caplog.text)


async def test_an_id_shaped_password_at_the_sign_in_id_step_is_sealed_and_recorded_as_a_placeholder(
    routed: RoutedChat, caplog: pytest.LogCaptureFixture
) -> None:
    """A password of letters and digits cannot be told from an ID: it goes on to the
    password step, but only sealed, and out of order (the ID then typed as the password)
    the sign-in simply fails."""
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    await _to_signin_id(routed)
    outcome = await routed.send(PASSWORD)
    assert routed.state == "signin_password" and not outcome.secret_input
    slots = await _slots(routed)
    assert set(slots) == {"netid_token"}
    assert routed.bot.vault.decrypt(str(slots["netid_token"]), "signin-id") == PASSWORD
    with pytest.raises(VaultError):  # bound to its purpose: not readable as a card
        routed.bot.vault.decrypt(str(slots["netid_token"]), "card")
    _nowhere(PASSWORD, await _dump_tables(routed), caplog.text)
    await routed.send(NETID)  # the ID, arriving after the password
    assert routed.keys == ["signin.failed", "ask.signin_id"]
    assert await _slots(routed) == {}
    assert await _typed_rows(routed, "signin_id") == ["⟨netid:unchecked⟩"]
    _nowhere(PASSWORD, await _dump_tables(routed), caplog.text)


async def test_a_signed_in_members_id_is_kept_sealed_and_then_not_at_all(chat: Chat) -> None:
    await _to_signin_id(chat)
    await chat.send(NETID)
    assert NETID not in repr(await _slots(chat))
    await chat.send(NETID_PASSWORD)
    assert chat.state == "signin_otp"
    assert "netid_token" not in await _slots(chat) and NETID not in repr(await _slots(chat))


@pytest.mark.parametrize("typed", ["", "two words", "x" * 65])
async def test_a_malformed_sign_in_id_is_recorded_by_its_fault(chat: Chat, typed: str) -> None:
    await _to_signin_id(chat)
    await chat.send(typed)
    assert chat.keys == ["signin.id_format", "ask.signin_id"]
    assert await _typed_rows(chat, "signin_id") == ["⟨netid:format⟩"]


async def test_the_password_typed_as_the_new_id_is_refused_without_repeating_it(
    routed: RoutedChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    await to_password(routed)
    await routed.send(choice="netid:own")
    outcome = await routed.send(NETID_PASSWORD)
    assert routed.state == "netid" and routed.keys == ["netid.password", "ask.netid"]
    assert outcome.secret_input
    assert not any(NETID_PASSWORD in text for text in routed.texts)
    assert "netid" not in await _slots(routed)
    await routed.send("hanako2024")
    assert routed.state == "password" and routed.keys == ["netid.chosen", "ask.password"]
    assert await _typed_rows(routed, "netid") == ["⟨invalid:netid.password⟩", "⟨netid:ok⟩"]
    _nowhere(NETID_PASSWORD, await _dump_tables(routed), caplog.text)


@pytest.mark.parametrize(
    ("typed", "problems"),
    [
        ("hanako-2024", ["netid.password"]),  # a password's character: a password
        ("hana@2024_x", ["netid.password"]),
        ("hanako!2024", ["netid.characters"]),  # no password has "!": just a wrong ID
        ("hanako-san", ["netid.characters"]),  # no digit: not a password either
        ("abc", ["netid.length"]),
    ],
)
async def test_only_text_that_can_only_be_a_password_is_refused_as_one(
    chat: Chat, typed: str, problems: list[str]
) -> None:
    await to_password(chat)
    await chat.send(choice="netid:own")
    outcome = await chat.send(typed)
    assert chat.keys == [*problems, "ask.netid"]
    assert outcome.secret_input == (problems == ["netid.password"])
    assert await _typed_rows(chat, "netid") == [f"⟨invalid:{'+'.join(problems)}⟩"]


async def test_the_password_typed_as_the_id_when_fixing_it_is_refused(
    routed: RoutedChat, caplog: pytest.LogCaptureFixture
) -> None:
    """From the confirmation the password is already chosen: the same text as the new
    ID is the password, whatever its shape, and is refused unrepeated."""
    caplog.set_level(logging.INFO)  # what `serve -v` logs
    await to_confirm(routed)
    await routed.send(choice="confirm:edit")
    await routed.send(choice="fix:netid")
    outcome = await routed.send(PASSWORD)
    assert routed.state == "netid" and routed.keys == ["netid.same_as_password", "ask.netid"]
    assert outcome.secret_input
    assert "netid" not in await _slots(routed)
    assert await _typed_rows(routed, "netid") == ["⟨invalid:netid.same_as_password⟩"]
    _nowhere(PASSWORD, await _dump_tables(routed), caplog.text)
    await routed.send("hanako2024")
    assert routed.state == "confirm"


def test_the_refusals_name_no_input() -> None:
    for lang, catalog in CATALOG.items():
        for key in ("netid.password", "netid.same_as_password"):
            assert key in catalog, (lang, key)
            assert not re.search(r"\{\w+\}", catalog[key]), (lang, key)


def test_the_migration_drops_the_ids_older_releases_kept_in_clear(database_url: str) -> None:
    """A sign-in waiting for its password asks the ID again; one waiting for its passcode
    goes on without the member's ID, which it no longer needs."""
    config = schema._config(database_url)
    command.upgrade(config, "0015")
    engine = sqlalchemy.create_engine(sync_url(database_url))
    insert = sqlalchemy.text(
        "INSERT INTO conversations (channel, user_id, flow, state, slots, lang, started_at, "
        "updated_at) VALUES ('console', :user, :flow, :state, :slots, 'ja', :at, :at)"
    )
    rows = [
        ("typing", "signin", "signin_password", f'{{"netid": "{NETID_PASSWORD}"}}'),
        ("passcode", "signin", "signin_otp", f'{{"netid": "{NETID}", "member_id": 1}}'),
        ("enrolling", "enrollment", "password", '{"netid": "hanako2024"}'),
    ]
    with engine.begin() as connection:
        for user, flow, state, slots in rows:
            connection.execute(
                insert,
                {"user": user, "flow": flow, "state": state, "slots": slots, "at": "2026-11-24"},
            )
    schema.upgrade(database_url)
    query = sqlalchemy.text("SELECT user_id, state, slots FROM conversations ORDER BY id")
    with engine.connect() as connection:
        found = {user: (state, slots) for user, state, slots in connection.execute(query)}
    engine.dispose()
    decoded = {
        user: (state, slots if isinstance(slots, dict) else json.loads(slots))
        for user, (state, slots) in found.items()
    }
    assert decoded == {
        "typing": ("signin_id", {}),
        "passcode": ("signin_otp", {"member_id": 1}),
        "enrolling": ("password", {"netid": "hanako2024"}),  # a chosen ID: enrollment's own
    }
