"""The one-time passcode step: 6 random digits, 5 minutes, single use, limited tries."""

from sqlalchemy import select

from storage.models import Conversation, Member
from tests.conftest import Chat, Clock
from tests.enroll import MASTERCARD, to_passcode


async def _otp_slot(chat: Chat) -> dict | None:
    async with chat.bot.database.transaction() as session:
        row = await session.scalar(select(Conversation).where(Conversation.user_id == chat.user))
    assert row is not None
    return row.slots.get("otp")


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_passcodes_are_random_six_digits(chat: Chat) -> None:
    first = await to_passcode(chat)
    other = Chat(chat.bot, user="member-2")
    second = await to_passcode(other, MASTERCARD)
    assert len(first) == len(second) == 6 and first.isdigit() and second.isdigit()
    assert first != second


async def test_passcode_is_kept_only_as_a_keyed_hash(chat: Chat) -> None:
    code = await to_passcode(chat)
    slot = await _otp_slot(chat)
    assert slot is not None and code not in str(slot)


async def test_full_width_passcode_is_accepted(chat: Chat) -> None:
    code = await to_passcode(chat)
    await chat.send(code.translate(str.maketrans("0123456789", "０１２３４５６７８９")))
    assert chat.state == "wallet"


async def test_passcode_format_is_checked(chat: Chat) -> None:
    await to_passcode(chat)
    await chat.send("12345")
    assert chat.keys == ["otp.format", "ask.otp"]


async def test_wrong_passcode_says_how_many_tries_are_left(chat: Chat) -> None:
    code = await to_passcode(chat)
    await chat.send(_wrong(code))
    assert chat.keys == ["otp.wrong", "ask.otp"] and "4" in chat.texts[0]


async def test_five_wrong_passcodes_end_the_enrollment(chat: Chat) -> None:
    code = await to_passcode(chat)
    for _ in range(4):
        await chat.send(_wrong(code))
        assert chat.state == "otp"
    await chat.send(_wrong(code))
    assert chat.keys == ["identity.locked", "ask.closed"] and chat.state == "closed"
    await chat.send(code)  # too late: the right code no longer opens anything
    assert chat.state == "closed"
    async with chat.bot.database.transaction() as session:
        assert (await session.scalars(select(Member))).first() is None


async def test_passcode_expires_after_five_minutes(chat: Chat, clock: Clock) -> None:
    code = await to_passcode(chat)
    clock.advance(minutes=5, seconds=1)
    await chat.send(code)
    assert chat.keys == ["otp.expired", "ask.otp"] and chat.state == "otp"


async def test_passcode_within_five_minutes_works(chat: Chat, clock: Clock) -> None:
    code = await to_passcode(chat)
    clock.advance(minutes=4, seconds=59)
    await chat.send(code)
    assert chat.state == "wallet"


async def test_resend_replaces_the_code_and_waits_60_seconds(chat: Chat, clock: Clock) -> None:
    old = await to_passcode(chat)
    await chat.send(choice="otp:resend")
    assert chat.keys == ["otp.resend_wait", "ask.otp"]
    assert await chat.sandbox() == []
    clock.advance(seconds=60)
    await chat.send(choice="otp:resend")
    assert chat.keys == ["otp.resent", "ask.otp"]
    new = await chat.passcode()
    assert new != old
    await chat.send(old)
    assert chat.keys[0] == "otp.wrong"
    await chat.send(new)
    assert chat.state == "wallet"


async def test_at_most_three_resends(chat: Chat, clock: Clock) -> None:
    await to_passcode(chat)
    for _ in range(3):
        clock.advance(seconds=61)
        await chat.send(choice="otp:resend")
        assert chat.keys[0] == "otp.resent"
    clock.advance(seconds=61)
    await chat.send(choice="otp:resend")
    assert chat.keys == ["otp.resend_limit", "ask.otp"]


async def test_resending_never_resets_the_failure_count(chat: Chat, clock: Clock) -> None:
    code = await to_passcode(chat)
    for _ in range(3):
        await chat.send(_wrong(code))
    clock.advance(seconds=61)
    await chat.send(choice="otp:resend")
    new = await chat.passcode()
    await chat.send(_wrong(new))
    assert chat.last.replies[0].params == {"remaining": 1}


async def test_a_used_passcode_is_gone(chat: Chat) -> None:
    code = await to_passcode(chat)
    await chat.send(code)
    assert await _otp_slot(chat) is None


async def test_resend_wait_never_exceeds_60_seconds(chat: Chat, clock: Clock) -> None:
    # A second process's clock may start slightly before the moment the code was sent.
    await to_passcode(chat)
    clock.advance(seconds=-1)
    await chat.send(choice="otp:resend")
    assert chat.keys == ["otp.resend_wait", "ask.otp"] and "は60秒後" in chat.texts[0]


async def test_resend_wait_is_rounded_up(chat: Chat, clock: Clock) -> None:
    await to_passcode(chat)
    clock.advance(seconds=1.6)  # 58.4 s to wait: saying 58 would invite a refused retry
    await chat.send(choice="otp:resend")
    assert "は59秒後" in chat.texts[0]
    clock.advance(seconds=58.3)  # 0.1 s to wait
    await chat.send(choice="otp:resend")
    assert "は1秒後" in chat.texts[0]
