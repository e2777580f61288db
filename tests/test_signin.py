"""Members who already have a Net Answer ID sign in and link this chat: from the
welcome or instead of re-registering; failures look alike and are counted per ID across
chats; nothing typed is kept."""

import json
import logging
import os
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import select

from flows.cards import CardNumber
from storage.database import aware
from storage.models import ChatIdentity, Member
from tests.conftest import Chat, Clock, passcode_in
from tests.enroll import PASSWORD, REGISTERED, VISA, enroll, to_code, to_password
from tests.test_cli import _COMMAND, JsonChat
from tests.test_secrets import _dump_tables, _pattern

NETID = "saisonvisa33"  # the sandbox's member registered before the bot (README)
SECRET = "Kumo-Sora2030"


def _offered(chat: Chat) -> list[str]:
    assert chat.last is not None
    return [choice.data for choice in chat.last.replies[-1].choices]


async def _sign_in(chat: Chat, netid: str = NETID, password: str = SECRET) -> str:
    """From the welcome to the passcode step; returns the passcode sent."""
    await chat.send("/start")
    await chat.send(choice="welcome:signin")
    assert chat.state == "signin_id", chat.keys
    await chat.send(netid)
    assert chat.state == "signin_password", chat.keys
    await chat.sandbox()
    await chat.send(password)
    assert chat.state == "signin_otp", chat.keys
    return await chat.passcode()


async def test_the_welcome_offers_both_paths(chat: Chat) -> None:
    await chat.send("/start")
    assert chat.keys == ["welcome", "ask.card"]
    assert _offered(chat) == ["welcome:signin", "welcome:enroll"]
    await chat.send(choice="welcome:enroll")
    assert chat.state == "card" and chat.keys == ["welcome.enroll", "ask.card"]
    await chat.send(VISA.number)  # a card number still starts enrollment
    assert chat.state == "expiry"


async def test_an_existing_member_signs_in_and_gets_figures(chat: Chat) -> None:
    await chat.send(await _sign_in(chat))
    assert chat.state == "member" and chat.keys == ["signin.linked", "ask.member"]
    assert NETID in chat.texts[0] and "/unlink" in chat.texts[0]
    await chat.send("/points")
    assert chat.keys == ["member.points", "ask.member"]
    async with chat.bot.database.transaction() as session:
        member = (await session.scalars(select(Member))).one()
        assert member.net_answer_id == NETID and member.card_masked.endswith("3003")
        assert member.password_hash == ""  # the issuer keeps the password


async def test_the_passcode_goes_to_the_phone_the_issuer_holds(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send(choice="welcome:signin")
    await chat.send(NETID)
    await chat.sandbox()
    await chat.send(SECRET)
    [sms] = await chat.sandbox()
    assert sms.kind == "sms" and sms.to.replace("-", "") == REGISTERED.phone


@pytest.mark.parametrize("typed", ["ログイン", "/login", "Sign in"])
async def test_typing_sign_in_chooses_it(chat: Chat, typed: str) -> None:
    await chat.send("/start")
    await chat.send(typed)
    assert chat.state == "signin_id"


async def test_sign_in_is_offered_first_instead_of_re_registering(chat: Chat) -> None:
    await to_code(chat, REGISTERED)
    await chat.send(REGISTERED.code)
    assert chat.state == "reregister"
    assert _offered(chat)[0] == "reregister:signin"
    await chat.send(choice="reregister:signin")
    assert chat.state == "signin_id" and chat.keys == ["ask.signin_id"]
    async with chat.bot.database.transaction() as session:
        assert (await session.execute(select(ChatIdentity))).all() == []


async def test_unknown_id_and_wrong_password_look_alike(chat: Chat) -> None:
    answers = []
    for netid, password in (("nosuchmember", SECRET), (NETID, "Wrong-Pass1")):
        await chat.send("/start")
        await chat.send(choice="welcome:signin")
        await chat.send(netid)
        await chat.send(password)
        answers.append((chat.keys, chat.texts, chat.state))
    assert answers[0] == answers[1]
    assert answers[0][0] == ["signin.failed", "ask.signin_id"]


async def test_five_failures_for_one_id_lock_it_in_every_chat(chat: Chat, clock: Clock) -> None:
    other = Chat(chat.bot, user="another-phone")
    for attempt in range(5):
        who = chat if attempt < 3 else other
        await who.send("/start")
        await who.send(choice="welcome:signin")
        await who.send(NETID if attempt % 2 else NETID.upper())  # the case changes nothing
        await who.send(f"Wrong-Pass{attempt}")
    assert other.keys == ["signin.locked", "ask.signin_id"]
    assert "日本時間" in other.texts[0]
    await chat.send(NETID)
    await chat.send(SECRET)  # right, but the ID is paused
    assert chat.keys == ["signin.locked", "ask.signin_id"]
    clock.advance(minutes=31)
    await chat.send(NETID)
    await chat.send(SECRET)
    assert chat.state == "signin_otp"


async def test_an_id_made_by_enrollment_signs_in_from_another_chat(chat: Chat) -> None:
    await enroll(chat)
    async with chat.bot.database.transaction() as session:
        netid = (await session.scalars(select(Member))).one().net_answer_id
    phone = Chat(chat.bot, user="new-phone")
    await phone.send(await _sign_in(phone, netid, PASSWORD))
    assert phone.state == "member"
    await chat.send("/points")  # the first chat stays linked
    assert chat.keys == ["member.points", "ask.member"]
    wrong = Chat(chat.bot, user="stranger")
    await wrong.send("/start")
    await wrong.send(choice="welcome:signin")
    await wrong.send(netid)
    await wrong.send(SECRET)
    assert wrong.keys == ["signin.failed", "ask.signin_id"]


async def test_forgot_and_register_anew(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send(choice="welcome:signin")
    await chat.send(choice="signin:forgot")
    assert chat.keys == ["signin.forgot", "ask.signin_id"]
    assert "https://www.saisoncard.co.jp/" in chat.texts[0]
    await chat.send(NETID)
    await chat.send(choice="signin:enroll")
    assert chat.state == "card" and chat.keys[-1] == "ask.card"


async def test_cancel_and_wrong_passcodes(chat: Chat) -> None:
    await _sign_in(chat)
    await chat.send("000000")
    assert chat.keys[0] == "otp.wrong" and chat.state == "signin_otp"
    await chat.send("/cancel")
    assert chat.keys == ["cancelled", "ask.signin_closed"]
    async with chat.bot.database.transaction() as session:
        assert (await session.execute(select(ChatIdentity))).all() == []


async def test_nothing_typed_is_kept(chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await chat.send("/start")
    await chat.send(choice="welcome:signin")
    await chat.send(NETID)
    await chat.send("Wrong-Pass9")
    passcode = await _sign_in(chat)
    await chat.send(passcode)
    tables = await _dump_tables(chat)
    for secret in (SECRET, "Wrong-Pass9", passcode):
        assert not _pattern(secret).search(tables), secret
        assert secret not in caplog.text
    assert re.search(rb"password:refused", tables)  # the transcript says what happened


async def test_a_stale_sign_in_times_out(chat: Chat, clock: Clock) -> None:
    await _sign_in(chat)
    clock.advance(minutes=31)
    await chat.send("123456")
    assert chat.keys[0] == "expired" and chat.state == "card"


def test_sign_in_through_the_json_chat(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    chat = JsonChat(env, "--user", "signin")
    try:
        first = chat.text("/start")
        offered = [choice["data"] for choice in first["replies"][-1]["choices"]]
        assert offered == ["welcome:signin", "welcome:enroll"]
        assert chat.choice("welcome:signin")["state"] == "signin_id"
        assert chat.text(NETID)["state"] == "signin_password"
        asked = chat.text(SECRET)
        assert asked["state"] == "signin_otp"
        [sms] = asked["sandbox"]
        found = re.search(r"\b(\d{6})\b", sms["text"])
        assert found
        linked = chat.text(found[1])
        assert linked["state"] == "member"
        assert chat.text("/points")["state"] == "member"
    finally:
        assert chat.close() == 0


async def test_a_link_unused_for_90_days_asks_for_a_passcode_first(
    chat: Chat, clock: Clock
) -> None:
    await chat.send(await _sign_in(chat))
    clock.advance(days=89)
    await chat.send("/points")  # used within 90 days: answered, and counted as a use
    assert chat.keys == ["member.points", "ask.member"]
    clock.advance(days=89)
    await chat.send("/points")
    assert chat.keys == ["member.points", "ask.member"]
    clock.advance(days=90)
    await chat.sandbox()
    await chat.send("/points")
    assert chat.state == "signin_otp" and chat.keys == ["member.recheck", "ask.otp"]
    assert not any("ポイント" in text for text in chat.texts)  # no figure before the passcode
    code = await chat.passcode()
    await chat.send("000000" if code != "000000" else "111111")
    assert chat.keys == ["otp.wrong", "ask.otp"]
    await chat.send(code)
    assert chat.state == "member"
    await chat.send("/points")
    assert chat.keys == ["member.points", "ask.member"]
    async with chat.bot.database.transaction() as session:
        link = (await session.scalars(select(ChatIdentity))).one()
        assert aware(link.last_used_at) == clock() and aware(link.linked_at) < clock()


async def test_an_old_link_cannot_make_the_phone_ring_without_end(chat: Chat, clock: Clock) -> None:
    """Whoever holds an old linked chat (a lost phone) gets a passcode per re-check, but
    the passcodes sign-ins send one card are counted in the database: /start and
    /cancel do not reset the count, and after five nothing more is sent for 30 minutes."""
    await chat.send(await _sign_in(chat))
    clock.advance(days=91)
    await chat.sandbox()
    sent = []
    for _ in range(5):
        await chat.send("/points")
        sent += await chat.sandbox()
        assert not any("ポイント）" in text for text in chat.texts)  # never a figure
        await chat.send("/cancel")
        assert chat.state == "member", chat.keys  # a cancelled re-check: back home
    assert len(sent) == 5
    await chat.send("/points")
    assert chat.keys[0] == "signin.codes_paused" and await chat.sandbox() == []
    assert "日本時間" in chat.texts[0]
    clock.advance(minutes=31)
    await chat.send("/points")
    assert len(await chat.sandbox()) == 1 and chat.state == "signin_otp"


async def test_an_issuer_members_id_cannot_be_taken_by_enrollment(chat: Chat) -> None:
    await to_password(chat)
    await chat.send(choice="netid:own")
    await chat.send(NETID)
    assert chat.keys == ["netid.taken", "ask.netid"]


async def test_the_issuer_is_asked_whichever_the_id(chat: Chat) -> None:
    """The same work for an ID enrolled here, one the issuer keeps and an unknown one:
    the time the answer takes tells nothing about the ID."""
    await enroll(chat)
    async with chat.bot.database.transaction() as session:
        here = (await session.scalars(select(Member))).one().net_answer_id
    issuer = chat.bot.engine.services.issuer
    asked: list[str] = []
    real = issuer.sign_in

    async def counted(net_answer_id: str, password: str) -> CardNumber | None:
        asked.append(net_answer_id)
        return await real(net_answer_id, password)

    issuer.sign_in = counted  # type: ignore[method-assign]
    stranger = Chat(chat.bot, user="stranger")
    for netid in (here, NETID, "nosuchmember9"):
        await stranger.send("/start")
        await stranger.send(choice="welcome:signin")
        await stranger.send(netid)
        await stranger.send("Wrong-Pass1")
        assert stranger.keys[0] == "signin.failed"
    assert asked == [here, NETID, "nosuchmember9"]


def test_operators_list_and_end_every_link_of_a_member(database_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    for user in ("hanako-phone", "hanako-tablet"):
        chat = JsonChat(env, "--user", user)
        chat.text("/start")
        chat.choice("welcome:signin")
        chat.text(NETID)
        sent = chat.text(SECRET)["sandbox"]
        chat.text(passcode_in(sent[-1]["text"]))
        assert chat.text("/points")["state"] == "member"
        assert chat.close() == 0

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_COMMAND, "members", *args], env=env, capture_output=True, text=True, timeout=60
        )

    listed = json.loads(run("links", NETID, "--json").stdout)
    assert listed["net_answer_id"] == NETID
    assert [(link["channel"], link["user"]) for link in listed["links"]] == [
        ("console", "********hone"),
        ("console", "*********blet"),
    ]
    assert all(link["linked_at"] and link["last_used"] for link in listed["links"])
    assert "console" in run("links", NETID).stdout
    assert run("unlink", NETID).returncode == 2  # --all is required
    ended = run("unlink", NETID, "--all", "--json")
    assert json.loads(ended.stdout) == {"net_answer_id": NETID, "unlinked": 2}
    assert json.loads(run("links", NETID, "--json").stdout)["links"] == []
    unknown = run("links", "nobody1234")
    assert unknown.returncode == 1 and "nobody1234" in unknown.stderr
    chat = JsonChat(env, "--user", "hanako-phone")
    answer = chat.text("/points")
    assert answer["state"] == "card" and "member.points" not in json.dumps(answer)
    assert chat.close() == 0
    audit = sqlalchemy.create_engine(env["DATABASE_URL"])
    with audit.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text("SELECT action, net_answer_id, detail FROM audit_log ORDER BY id")
        ).all()
    audit.dispose()
    assert [(action, netid) for action, netid, _ in rows] == [
        ("members links", NETID),
        ("members links", NETID),
        ("members unlink --all", NETID),
        ("members links", NETID),
        ("members links", "nobody1234"),
    ]
