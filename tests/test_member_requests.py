"""What a linked member asks the bot to do, beyond figures: put points towards the
next bill, add the card to a wallet, switch language, unlink the chat; and what a
chat that is not linked gets when it asks for figures."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.channels.channel import Inbound
from adapters.gateways import Account
from flows import figures
from flows.cards import parse_card_number
from storage.models import ChatIdentity, Conversation, Member
from tests.conftest import Chat
from tests.enroll import VISA, enroll, to_passcode
from tests.test_cli import JsonChat, _to_passcode_step

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")


async def _account(chat: Chat) -> Account:
    account = await chat.bot.engine.services.issuer.account(parse_card_number(VISA.number))
    assert account is not None
    return account


@pytest.fixture
async def member(chat: Chat) -> Chat:
    await enroll(chat)
    return chat


def _offered(chat: Chat) -> list[str]:
    assert chat.last is not None
    return [choice.data for choice in chat.last.replies[-1].choices]


async def test_points_go_towards_the_bill_and_both_are_lower(member: Chat) -> None:
    before = await _account(member)
    await member.send(choice="points:apply")
    assert member.state == "points" and member.keys == ["ask.points"]
    usable = min(before.points, before.next_payment_amount // before.point_rate)
    assert figures.points(usable, "ja") in member.texts[0]
    await member.send("１，０００ポイント")  # full-width, with a separator and the unit
    assert member.state == "points_confirm"
    assert figures.yen(1000 * before.point_rate, "ja") in member.texts[0]
    await member.send(choice="points:confirm")
    assert member.keys == ["points.applied", "ask.member"] and member.state == "member"
    after = await _account(member)
    assert after.points == before.points - 1000
    assert after.next_payment_amount == before.next_payment_amount - 1000 * before.point_rate
    assert figures.points(after.points, "ja") in member.texts[0]
    assert figures.yen(after.next_payment_amount, "ja") in member.texts[0]
    await member.send("/points")  # what the member is shown next is the issuer's new figure
    assert figures.points(after.points, "ja") in member.texts[0]


@pytest.mark.parametrize("typed", ["たくさん", "0", "99999999", "-5"])
async def test_a_number_of_points_that_cannot_be_used_is_asked_again(
    member: Chat, typed: str
) -> None:
    before = await _account(member)
    await member.send("ポイントを請求額に充当したい")
    await member.send(typed)
    assert member.state == "points"
    assert member.keys[-1] == "ask.points" and member.keys[0].startswith("points.")
    assert (await _account(member)).points == before.points


async def test_all_points_at_once_and_nothing_left_to_apply(member: Chat) -> None:
    before = await _account(member)
    await member.send(choice="points:apply")
    await member.send(choice="points:all")
    await member.send(choice="points:confirm")
    after = await _account(member)
    assert after.points == 0 or after.next_payment_amount < after.point_rate
    assert before.points - after.points == min(
        before.points, before.next_payment_amount // before.point_rate
    )
    await member.send("/apply")
    assert member.keys == ["points.none", "ask.member"] and member.state == "member"


@pytest.mark.parametrize("leave", [{"choice": "points:cancel"}, {"text": "/cancel"}])
async def test_cancelling_keeps_the_points(member: Chat, leave: dict[str, str]) -> None:
    before = await _account(member)
    await member.send(choice="points:apply")
    await member.send("100")
    await member.send(**leave)
    assert member.state == "member"
    assert (await _account(member)).points == before.points
    async with member.bot.database.transaction() as session:
        row = (await session.scalars(select(Conversation))).one()
    assert "apply" not in row.slots  # nothing of the request is kept


async def test_a_repeated_request_is_applied_once(member: Chat) -> None:
    """The issuer names each request: the same request applied twice (a retry after a
    lost commit) takes the points once."""
    issuer = member.bot.engine.services.issuer
    card = parse_card_number(VISA.number)
    before = await _account(member)
    await issuer.apply_points(card, 10, request="retry-1")
    after = await issuer.apply_points(card, 10, request="retry-1")
    assert after.points == before.points - 10


def test_the_sandbox_account_shows_applied_points(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }

    def account() -> dict[str, Any]:
        shown = subprocess.run(
            [_COMMAND, "sandbox", "account", VISA.number, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(shown.stdout)  # type: ignore[no-any-return]

    before = account()
    chat = JsonChat(env, "--user", "points")
    try:
        _enroll_json(chat)
        assert chat.choice("points:apply")["state"] == "points"
        assert chat.text("200")["state"] == "points_confirm"
        done = chat.choice("points:confirm")
        assert done["state"] == "member"
    finally:
        chat.close()
    after = account()
    assert after["points"]["balance"] == before["points"]["balance"] - 200
    assert after["payment"]["amount"] == before["payment"]["amount"] - 200 * 5
    assert f"{after['points']['balance']:,}" in done["replies"][0]["text"]


def _enroll_json(chat: JsonChat) -> None:
    """The JSON chat shows the sandbox's messages with each answer: the passcode too."""
    [sms] = _to_passcode_step(chat)["sandbox"]
    found = re.search(r"\b(\d{6})\b", sms["text"])
    assert found
    assert chat.text(found[1])["state"] == "wallet"
    assert chat.choice("wallet:later")["state"] == "member"


async def test_the_wallet_offer_put_off_stays_in_the_menu(member: Chat) -> None:
    await member.send("/home")
    assert "menu:wallet" in _offered(member)
    await member.send(choice="menu:wallet")
    assert member.keys == ["wallet.add", "ask.member"]
    assert "menu:wallet" not in _offered(member)
    async with member.bot.database.transaction() as session:
        assert not (await session.scalars(select(Member))).one().wallet_later


async def test_a_wallet_added_at_enrollment_is_not_offered_again(chat: Chat) -> None:
    await chat.send(await to_passcode(chat))
    await chat.send(choice="wallet:add")
    assert chat.state == "member" and "menu:wallet" not in _offered(chat)


async def test_the_language_is_remembered_for_the_member(member: Chat) -> None:
    member.lang = "ja"  # the platform keeps saying Japanese
    await member.send("/language")
    assert member.state == "language"
    await member.send(choice="language:en")
    assert member.keys == ["language.chosen", "ask.member"] and member.last
    assert member.last.lang == "en" and "English" in member.texts[0]
    await member.send("/points")
    assert member.last.lang == "en" and "worth" in member.texts[0]
    async with member.bot.database.transaction() as session:
        assert (await session.scalars(select(Member))).one().lang == "en"
    await member.send("言語")
    await member.send("日本語")  # the label typed works as the button
    assert member.last.lang == "ja" and "日本語" in member.texts[0]


async def test_unlinking_asks_first_then_shows_nothing(member: Chat) -> None:
    await member.send("/language")
    await member.send(choice="language:en")  # the member's choice, until the chat is unlinked
    await member.send("連携解除")
    assert member.state == "unlink" and member.keys == ["ask.unlink"]
    await member.send(choice="unlink:cancel")
    assert member.keys == ["unlink.kept", "ask.member"]
    await member.send(choice="menu:unlink")
    await member.send(choice="unlink:confirm")
    assert member.keys[0] == "unlinked" and member.state == "card"
    async with member.bot.database.transaction() as session:
        assert (await session.scalars(select(ChatIdentity))).all() == []
        assert (await session.scalars(select(Member))).one()  # the registration stays
        assert not (await session.scalars(select(Conversation))).one().lang_chosen
    await member.send("/points")
    assert member.keys == ["member.not_linked", "ask.card"]
    await member.send(choice="menu:points")  # an old button, or LINE's rich menu
    assert member.keys == ["member.not_linked", "ask.card"]


@pytest.mark.parametrize("asked", ["明細", "ポイントいくら？", "/payment", "October statement"])
async def test_a_stranger_asking_for_figures_is_offered_enrollment(chat: Chat, asked: str) -> None:
    await chat.send(asked)
    assert chat.keys == ["welcome", "member.not_linked", "ask.card"], chat.keys
    await chat.send(asked)
    assert chat.keys == ["member.not_linked", "ask.card"]
    assert not any("円" in text or "¥" in text for text in chat.texts)


async def test_a_stranger_pressing_a_member_button_is_shown_nothing(chat: Chat) -> None:
    await chat.bot.engine.handle(Inbound("console", chat.user, "e1", text="こんにちは"))
    await chat.send(choice="menu:points")
    assert chat.keys == ["member.not_linked", "ask.card"]
