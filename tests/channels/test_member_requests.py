"""Member requests through the channels' webhooks and their API stand-ins: points put
towards the bill and the language switched on Telegram, unlinking on LINE."""

import re
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from adapters.gateways import Account
from bot.runtime import Runtime
from flows import figures
from flows.cards import parse_card_number
from flows.messages import render
from flows.replies import Reply, points, yen
from storage import sandbox
from storage.models import Member as MemberRow
from tests.channels.conftest import Friend, Member
from tests.channels.line_stand_in import LineStandIn
from tests.channels.telegram_stand_in import TelegramStandIn
from tests.enroll import EMAIL, PASSWORD, VISA

Send = Callable[[str], Awaitable[Any]]


async def _enroll(runtime: Runtime, say: Send, choose: Send) -> None:
    for text in ("/start", VISA.number, VISA.expiry, VISA.code, EMAIL):
        await say(text)
    await choose("newsletter:no")
    await say(PASSWORD)
    await say(PASSWORD)
    for data in ("terms:agree", "confirm:ok"):
        await choose(data)
    async with runtime.database.transaction() as session:
        messages = await sandbox.read(session, runtime.vault)
    found = re.search(r"\b(\d{6})\b", messages[-1].text)
    assert found
    await say(found[1])
    await choose("wallet:later")


async def _account(runtime: Runtime) -> Account:
    account = await runtime.engine.services.issuer.account(parse_card_number(VISA.number))
    assert account is not None
    return account


async def test_points_and_language_on_telegram(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime
) -> None:
    await _enroll(runtime, member.say, member.choose)
    before = await _account(runtime)
    await member.choose("points:apply")
    await member.say("300")
    await member.choose("points:confirm")
    after = await _account(runtime)
    assert after.points == before.points - 300
    applied = stand_in.texts[-2]
    assert figures.points(after.points, "ja") in applied
    assert figures.yen(after.next_payment_amount, "ja") in applied
    await member.say("/language")
    await member.choose("language:en")
    await member.say("/points")  # Telegram says the app is in Japanese; the choice stays
    shown = {"points": points(after.points), "worth": yen(after.points_yen)}
    assert stand_in.texts[-2] == render(Reply("member.points", shown), "en")


async def test_unlinking_on_line_then_a_rich_menu_button_shows_nothing(
    friend: Friend, line_stand_in: LineStandIn, line_runtime: Runtime
) -> None:
    await _enroll(line_runtime, friend.say, friend.choose)
    async with line_runtime.database.transaction() as session:
        registered = (await session.scalars(select(MemberRow))).one()
    await friend.choose("menu:unlink")
    asked = {"netid": registered.net_answer_id, "card": registered.card_masked}
    assert line_stand_in.texts[-1] == render(Reply("ask.unlink", asked), "ja")
    await friend.choose("unlink:confirm")
    count = len(line_stand_in.texts)
    await friend.choose("menu:points")
    shown = line_stand_in.texts[count:]
    assert shown[0] == render(Reply("member.not_linked"), "ja")
    assert not any("ポイント）" in text or "相当" in text for text in shown)


async def test_sign_in_on_telegram_deletes_the_password_and_the_passcode(
    member: Member, stand_in: TelegramStandIn, runtime: Runtime
) -> None:
    await member.say("/start")
    await member.choose("welcome:signin")
    await member.say("saisonvisa33")
    await member.say("Kumo-Sora2030")
    async with runtime.database.transaction() as session:
        messages = await sandbox.read(session, runtime.vault)
    found = re.search(r"\b(\d{6})\b", messages[-1].text)
    assert found
    await member.say(found[1])
    await member.say("/points")
    assert stand_in.texts[-2].startswith("永久不滅ポイントの残高は")
    deleted = {int(params["message_id"]) for params in stand_in.called("deleteMessage")}
    secret = {message_id for text, message_id in member.sent if text in ("Kumo-Sora2030", found[1])}
    assert deleted == secret and len(secret) == 2
