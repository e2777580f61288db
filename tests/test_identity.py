"""Identity-check paths beyond the SMS passcode, and the locks that stop guessing."""

import asyncio

import pytest
from sqlalchemy import select

from bot.telephony import inbound_call
from storage.models import Lockout, Member
from tests.conftest import Chat, Clock, passcode_in
from tests.enroll import (
    AMEX,
    DINERS,
    JCB,
    MASTERCARD,
    VISA,
    Card,
    to_code,
    to_confirm,
    to_passcode,
    to_passcode_again,
)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def _members(chat: Chat) -> list[Member]:
    async with chat.bot.database.transaction() as session:
        return list((await session.scalars(select(Member))).all())


async def _call_in(chat: Chat, phone: str) -> int:
    bot = chat.bot
    return await inbound_call(bot.database, bot.vault, phone, bot.engine.services.clock())


# PIN fallback and email passcode -----------------------------------------------------------


async def test_the_card_pin_replaces_a_missing_sms(chat: Chat) -> None:
    await to_passcode(chat)
    await chat.send(choice="otp:pin")
    assert chat.state == "pin" and chat.keys == ["ask.pin"]
    await chat.send("12")
    assert chat.keys == ["pin.format", "ask.pin"]
    await chat.send("9999")
    assert chat.keys == ["pin.wrong", "ask.pin"] and chat.last.replies[0].params == {"remaining": 4}
    await chat.send("１２３４")
    assert chat.state == "wallet"
    assert len(await _members(chat)) == 1


async def test_from_pin_back_to_the_passcode(chat: Chat) -> None:
    code = await to_passcode(chat)
    await chat.send(choice="otp:pin")
    await chat.send(choice="pin:back")
    assert chat.state == "otp"
    await chat.send(code)
    assert chat.state == "wallet"


async def test_passcode_by_email_replaces_the_sms_one(chat: Chat) -> None:
    sms_code = await to_passcode(chat)
    await chat.send(choice="otp:email")  # changing the way needs no 60-second wait
    assert chat.keys == ["otp.resent", "ask.otp"] and "vi***@example.jp" in chat.texts[0]
    [mail] = await chat.sandbox()
    assert mail.kind == "mail" and mail.to == VISA.email
    mail_code = passcode_in(mail.text)
    await chat.send(sms_code)
    assert chat.keys[0] == "otp.wrong"
    await chat.send(choice="otp:email")  # a second mail is an ordinary re-issue
    assert chat.keys[0] == "otp.resend_wait"
    await chat.send(mail_code)
    assert chat.state == "wallet"


# Five failures pause the card --------------------------------------------------------------


async def test_wrong_passcodes_and_pins_together_pause_the_card_for_30_minutes(
    chat: Chat, clock: Clock
) -> None:
    code = await to_passcode(chat)
    for _ in range(3):
        await chat.send(_wrong(code))
    await chat.send(choice="otp:pin")
    await chat.send("9999")
    assert chat.last.replies[0].params == {"remaining": 1}
    await chat.send("9998")
    assert chat.keys == ["identity.locked", "ask.closed"] and chat.state == "closed"
    assert "11/24 19:30" in chat.texts[0]  # 10:00 UTC + 30 minutes, in Japan time

    await chat.send("/start")  # starting over does not reset the count
    await to_code(chat)
    await chat.send(VISA.code)
    assert chat.keys == ["identity.locked", "ask.closed"]

    other = Chat(chat.bot, user="someone-else")  # nor does another chat account
    await to_code(other)
    await other.send(VISA.code)
    assert other.keys[0] == "identity.locked"

    clock.advance(minutes=31)
    await to_code(chat)
    await chat.send(VISA.code)
    assert chat.state == "email"


async def test_a_right_passcode_clears_the_count(chat: Chat) -> None:
    code = await to_passcode(chat)
    for _ in range(4):
        await chat.send(_wrong(code))
    await chat.send(code)
    assert chat.state == "wallet"
    again = Chat(chat.bot, user="re-registering")
    code = await to_passcode_again(again)
    await again.send(_wrong(code))
    assert again.last.replies[0].params == {"remaining": 4}


# Landline: the call to the toll-free number ----------------------------------------------


async def _to_call(chat: Chat) -> None:
    await to_confirm(chat, DINERS)
    await chat.send(choice="confirm:ok")
    assert chat.state == "call"


async def test_landline_member_calls_the_toll_free_number(chat: Chat) -> None:
    await _to_call(chat)
    shown = chat.texts[-1]
    assert "0120-000-555" in shown and "******5678" in shown and "15" in shown
    assert await _call_in(chat, "03-1234-5678") == 1
    await chat.send(choice="otp:called")
    assert chat.state == "wallet" and chat.keys[0] == "done"


async def test_pressing_done_before_calling_waits(chat: Chat) -> None:
    await _to_call(chat)
    await chat.send(choice="otp:called")
    assert chat.keys == ["call.pending", "ask.call"] and chat.state == "call"


async def test_a_call_from_another_number_does_not_count(chat: Chat) -> None:
    await _to_call(chat)
    assert await _call_in(chat, "03-9999-0000") == 0
    await chat.send(choice="otp:called")
    assert chat.keys[0] == "call.pending"


async def test_a_call_after_15_minutes_is_too_late(chat: Chat, clock: Clock) -> None:
    await _to_call(chat)
    clock.advance(minutes=15, seconds=1)
    assert await _call_in(chat, "0312345678") == 0
    await chat.send(choice="otp:called")
    assert chat.keys == ["call.expired", "ask.call"]
    await chat.send(choice="call:again")
    assert chat.keys[0] == "call.restarted"
    assert await _call_in(chat, "0312345678") == 1
    await chat.send(choice="otp:called")
    assert chat.state == "wallet"


# Card guessing ----------------------------------------------------------------------------


async def _guess(chat: Chat, card: Card, code: str) -> None:
    await chat.send("/start")
    await chat.send(card.number)
    await chat.send(card.expiry)
    await chat.send(code)


async def test_five_failed_checks_from_one_user_pause_checking(chat: Chat, clock: Clock) -> None:
    for _ in range(4):
        await _guess(chat, VISA, "000")
        assert chat.keys == ["card.mismatch", "ask.card"]
    await _guess(chat, VISA, "000")
    assert chat.keys == ["checks.locked", "ask.closed"]
    await _guess(chat, MASTERCARD, MASTERCARD.code)  # even the right card is not checked now
    assert chat.keys == ["checks.locked", "ask.closed"]
    other = Chat(chat.bot, user="another")
    await _guess(other, MASTERCARD, MASTERCARD.code)
    assert other.state == "email"
    clock.advance(minutes=31)
    await _guess(chat, MASTERCARD, MASTERCARD.code)
    assert chat.state == "email"


async def test_five_failed_checks_against_one_card_from_many_users(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(5):
        await _guess(Chat(chat.bot, user=f"guesser-{n}"), VISA, f"{n:03d}")
    [locked] = [
        r for r in caplog.records if r.getMessage().startswith("lockout subject=guess:card:")
    ]
    assert VISA.number.replace(" ", "") not in locked.getMessage()
    owner = Chat(chat.bot, user="owner")
    await _guess(owner, VISA, VISA.code)
    assert owner.keys == ["checks.locked", "ask.closed"]


async def test_a_paused_answer_is_the_same_for_real_and_unknown_cards(chat: Chat) -> None:
    for _ in range(5):
        await _guess(chat, VISA, "000")
    await _guess(chat, VISA, VISA.code)
    real = chat.texts
    await _guess(chat, Card("4111 1111 1111 1111", "12/29", "123", "", ""), "123")
    assert chat.texts == real


async def test_a_paused_card_compares_nothing_in_any_conversation(chat: Chat) -> None:
    parked = Chat(chat.bot, user="parked")
    await to_passcode(parked, MASTERCARD)
    await parked.send(choice="otp:pin")
    await to_passcode(chat, MASTERCARD)
    await chat.send(choice="otp:pin")
    for _ in range(5):
        await chat.send("0000")
    assert chat.keys[0] == "identity.locked"
    await parked.send(MASTERCARD.pin)  # the right PIN, but the card is paused
    assert parked.keys == ["identity.locked", "ask.closed"]
    assert await _members(chat) == []


async def test_simultaneous_guesses_cannot_outrun_the_count(chat: Chat) -> None:
    guessers = [Chat(chat.bot, user=f"burst-{n}") for n in range(8)]
    for guesser in guessers:
        await guesser.send("/start")
        await guesser.send(VISA.number)
        await guesser.send(VISA.expiry)
    await asyncio.gather(*(g.send(f"{900 + n:03d}") for n, g in enumerate(guessers)))
    assert sum(g.keys[0] == "card.mismatch" for g in guessers) == 4
    assert sum(g.keys[0] == "checks.locked" for g in guessers) == 4
    owner = Chat(chat.bot, user="owner")
    await _guess(owner, VISA, VISA.code)
    assert owner.keys[0] == "checks.locked"


async def _lockout_subjects(chat: Chat) -> list[str]:
    async with chat.bot.database.transaction() as session:
        return sorted((await session.scalars(select(Lockout.subject))).all())


async def test_a_check_that_passes_writes_no_lockout_row(chat: Chat) -> None:
    await _guess(chat, VISA, VISA.code)
    assert chat.state == "email"
    assert await _lockout_subjects(chat) == []
    await _guess(chat, MASTERCARD, "000")  # a failure is counted: for the user and the card
    assert [s.split(":")[1] for s in await _lockout_subjects(chat)] == ["card", "user"]


async def test_a_genuine_card_does_not_reset_a_guessers_count(chat: Chat) -> None:
    for _ in range(4):
        await _guess(chat, VISA, "000")
    await _guess(chat, MASTERCARD, MASTERCARD.code)
    assert chat.state == "email"
    await _guess(chat, JCB, "000")
    assert chat.keys == ["checks.locked", "ask.closed"]


async def test_one_call_never_passes_two_waiting_enrollments(chat: Chat) -> None:
    await _to_call(chat)
    intruder = Chat(chat.bot, user="intruder")  # someone else holding the same card data
    await to_confirm(intruder, DINERS)
    await intruder.send(choice="confirm:ok")
    assert await _call_in(chat, "03-1234-5678") == 0
    await intruder.send(choice="otp:called")
    assert intruder.keys[0] == "call.pending"


async def test_a_cancelled_call_check_cannot_be_passed(chat: Chat) -> None:
    await _to_call(chat)
    await chat.send("/cancel")
    assert await _call_in(chat, "03-1234-5678") == 0


async def test_concurrent_right_and_wrong_passcodes_on_one_card_never_fail(chat: Chat) -> None:
    """Clearing a count while other conversations wait to check it (found by the
    benchmark on PostgreSQL) must not break their turns."""
    members = [Chat(chat.bot, user=f"same-card-{n}") for n in range(6)]
    codes = [await to_passcode(member) for member in members]
    await asyncio.gather(
        *(
            member.send(code if n % 2 == 0 else _wrong(code))
            for n, (member, code) in enumerate(zip(members, codes, strict=True))
        )
    )
    assert all(member.keys[0] != "trouble" for member in members)


async def test_a_paused_card_gets_no_new_codes_and_no_call_completion(chat: Chat) -> None:
    caller = Chat(chat.bot, user="landline")
    await _to_call(caller)
    other = Chat(chat.bot, user="same-card")
    await to_passcode(other, DINERS)  # by mail: the Diners phone is a landline
    for _ in range(5):
        await other.send("000000")
    assert other.keys[0] == "identity.locked"
    assert await _call_in(caller, "03-1234-5678") == 1
    await caller.send(choice="otp:called")  # the call came, but the card is paused
    assert caller.keys == ["identity.locked", "ask.closed"]
    assert await _members(chat) == []


# Only the options that make sense are offered ----------------------------------------------


def _offered(chat: Chat) -> list[str]:
    assert chat.last is not None
    return [choice.data for choice in chat.last.replies[-1].choices]


async def test_no_reissue_button_after_the_limit(chat: Chat, clock: Clock) -> None:
    await to_passcode(chat)
    assert _offered(chat) == ["otp:resend", "otp:email", "otp:pin"]
    for _ in range(3):
        clock.advance(seconds=61)
        await chat.send(choice="otp:resend")
    assert _offered(chat) == ["otp:pin"]


async def test_after_switching_to_mail_neither_mail_nor_sms_is_offered(chat: Chat) -> None:
    await to_passcode(chat)
    await chat.send(choice="otp:email")
    assert _offered(chat) == ["otp:resend"]


async def test_a_landline_member_sent_to_mail_is_not_offered_the_sms_fallback(
    chat: Chat,
) -> None:
    await to_confirm(chat, DINERS)
    await chat.send(choice="confirm:ok")
    assert chat.state == "call"
    await chat.send(choice="otp:email")
    assert chat.state == "otp" and "otp:pin" not in _offered(chat)


async def test_attempts_left_and_the_pause_read_right_in_english(chat: Chat) -> None:
    chat.lang = "en"
    code = await to_passcode(chat)
    for _ in range(3):
        await chat.send(_wrong(code))
    assert "2 attempts left" in chat.texts[0]
    await chat.send(_wrong(code))
    assert "1 attempt left" in chat.texts[0]
    await chat.send(_wrong(code))
    assert chat.keys[0] == "identity.locked"
    assert "after 11/24 19:30 Japan time (JST)" in chat.texts[0]


async def test_the_pause_says_japan_time(chat: Chat) -> None:
    code = await to_passcode(chat)
    for _ in range(5):
        await chat.send(_wrong(code))
    assert chat.keys[0] == "identity.locked" and "11/24 19:30（日本時間）" in chat.texts[0]


async def test_no_passcode_by_mail_where_the_issuer_holds_no_address(chat: Chat) -> None:
    """The typed address proves nothing about who typed it: without an address at the
    issuer, mail is not offered, and an old button says why."""
    await to_passcode(chat, AMEX)
    offered = [choice.data for choice in chat.last.replies[-1].choices]  # type: ignore[union-attr]
    assert "otp:email" not in offered and "otp:pin" in offered
    await chat.sandbox()
    await chat.send(choice="otp:email")
    assert chat.keys == ["otp.no_mail", "ask.otp"] and await chat.sandbox() == []
