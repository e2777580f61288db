"""The enrollment conversation end to end through the engine, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import select

from adapters.sandbox_issuer import load_card
from bot.config import Settings
from bot.runtime import Runtime, start
from flows.replies import phrase
from storage.models import ChatIdentity, Conversation, Member
from tests.conftest import Chat, Clock
from tests.enroll import (
    AMEX,
    AMEX_BACK,
    DINERS,
    EMAIL,
    PASSWORD,
    PERSONAL,
    VISA,
    Card,
    enroll,
    to_code,
    to_confirm,
    to_email,
    to_passcode_again,
    to_password,
    walk_to,
)


async def _members(chat: Chat) -> list[Member]:
    async with chat.bot.database.transaction() as session:
        return list((await session.scalars(select(Member))).all())


@pytest.mark.parametrize("card", PERSONAL, ids=lambda card: card.number[:4])
async def test_every_personal_demo_card_enrolls(chat: Chat, card: Card) -> None:
    await enroll(chat, card)

    [member] = await _members(chat)
    assert 8 <= len(member.net_answer_id) <= 16 and member.net_answer_id.isalnum()
    assert member.password_hash.startswith("$argon2id$")
    digits = card.number.replace(" ", "")
    assert member.card_masked.replace(" ", "").startswith(digits[:6])
    assert member.card_masked.replace(" ", "").endswith(digits[-4:])
    assert digits not in member.card_token
    assert member.emails == {"addresses": [{"address": EMAIL, "mobile": False}]}
    assert member.terms_version and member.terms_agreed_at
    async with chat.bot.database.transaction() as session:
        link = await session.get(ChatIdentity, ("console", chat.user))
    assert link is not None and link.member_id == member.id


async def test_completion_shows_and_mails_the_issued_id(chat: Chat) -> None:
    code = await _passcode_step(chat)
    await chat.send(code)
    [member] = await _members(chat)
    assert chat.keys[0] == "done"
    assert member.net_answer_id in chat.texts[0]
    assert "お客様のNetアンサーID" in chat.texts[0] and "あなた" not in chat.texts[0]
    [mail] = await chat.sandbox()
    assert mail.kind == "mail" and mail.to == EMAIL and member.net_answer_id in mail.text
    assert [c.data for c in chat.last.replies[-1].choices] == ["wallet:add", "wallet:later"]
    await chat.send(choice="wallet:add")
    assert chat.keys[0] == "wallet.add" and chat.state == "member"


async def _passcode_step(chat: Chat, card: Card = VISA) -> str:
    await to_confirm(chat, card)
    await chat.sandbox()
    await chat.send(choice="confirm:ok")
    return await chat.passcode()


async def test_passcode_goes_by_sms_to_the_masked_mobile(chat: Chat) -> None:
    await to_confirm(chat)
    await chat.sandbox()
    await chat.send(choice="confirm:ok")
    [sms] = await chat.sandbox()
    assert sms.kind == "sms" and sms.to == VISA.phone
    assert "*******5678" in chat.texts[-1]
    assert VISA.phone not in " ".join(chat.texts)


async def test_landline_member_may_take_the_passcode_by_mail(chat: Chat) -> None:
    await to_confirm(chat, DINERS)
    await chat.sandbox()
    await chat.send(choice="confirm:ok")
    assert chat.state == "call"
    await chat.send(choice="otp:email")
    assert chat.state == "otp"
    [mail] = await chat.sandbox()
    # To the address the issuer holds, not the one typed in the chat.
    assert mail.kind == "mail" and mail.to == DINERS.email != EMAIL
    assert "di***@example.jp" in chat.texts[-1]


# Card number, expiry, security code ------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "４９８０　００１２　３４５６　７０００",
        "4980-0012-3456-7000",
        "4980ー0012‐3456−7000",
        "4980－0012－3456－7000",
        " 4980001234567000 ",
    ],
)
async def test_card_number_accepts_what_phones_type(chat: Chat, typed: str) -> None:
    await chat.send("/start")
    await chat.send(typed)
    assert chat.state == "expiry"
    assert "4980 00** **** 7000" in chat.texts[0]


@pytest.mark.parametrize(
    ("typed", "keys"),
    [
        ("4980abcd34567000", ["card.characters"]),
        ("9999 0012 3456 7000", ["card.brand"]),
        ("4980 0012 3456 700", ["card.length"]),
        ("4980 0012 3456 7001", ["card.luhn"]),
        ("", ["unreadable"]),
        ("😀" * 3000, ["card.characters"]),
    ],
)
async def test_card_number_errors_name_the_problem_and_ask_again(
    chat: Chat, typed: str, keys: list[str]
) -> None:
    await chat.send("/start")
    await chat.send(typed if typed else None)
    assert chat.keys == [*keys, "ask.card"]
    assert chat.state == "card"


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_one_error_for_a_short_number_of_no_known_brand(chat: Chat, lang: str) -> None:
    chat.lang = lang
    await chat.send("/start")
    await chat.send("1234")
    assert chat.keys == ["card.length.range", "ask.card"] and chat.state == "card"
    assert ("14〜16桁" if lang == "ja" else "14-16 digits") in chat.texts[0]
    assert "4" in chat.texts[0]


async def test_one_error_for_a_security_code_with_letters_and_wrong_length(chat: Chat) -> None:
    await to_code(chat)
    await chat.send("12a45")
    assert chat.keys == ["code.characters", "ask.code"] and chat.state == "code"


async def test_card_length_error_says_how_many_digits(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send("3712 345678 9010")
    assert "15" in chat.texts[0] and chat.state == "card"


@pytest.mark.parametrize("typed", ["12/29", "1229", "12／29", "１２/２９", "12-29", "12/2029"])
async def test_expiry_accepts_common_forms(chat: Chat, typed: str) -> None:
    await chat.send("/start")
    await chat.send(VISA.number)
    await chat.send(typed)
    assert chat.state == "code"


async def test_expiry_one_digit_month(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send(VISA.number)
    await chat.send("1/28")
    assert chat.state == "code"


@pytest.mark.parametrize(
    ("typed", "key"),
    [("tomorrow", "expiry.format"), ("13/29", "expiry.month"), ("01/20", "expiry.past")],
)
async def test_expiry_errors(chat: Chat, typed: str, key: str) -> None:
    await chat.send("/start")
    await chat.send(VISA.number)
    await chat.send(typed)
    assert chat.keys == [key, "ask.expiry"] and chat.state == "expiry"


async def test_security_code_question_depends_on_the_brand(chat: Chat) -> None:
    await to_code(chat, AMEX)
    assert "表面に記載の4桁" in chat.texts[-1] and "裏面に記載の3桁" in chat.texts[-1]
    await chat.send("12")
    assert chat.keys == ["code.length.amex", "ask.code"]
    assert "4桁" in chat.texts[0] and "裏面の3桁" in chat.texts[0]
    await chat.send("12a4")
    assert chat.keys[0] == "code.characters"


async def test_amex_with_a_3_digit_code_on_the_back_enrolls(chat: Chat) -> None:
    await enroll(chat, AMEX_BACK)
    assert len(AMEX_BACK.code) == 3


async def test_amex_with_a_4_digit_code_on_the_front_still_enrolls(chat: Chat) -> None:
    await enroll(chat, AMEX)


async def test_3_digits_on_a_4_digit_amex_is_a_mismatch(chat: Chat) -> None:
    await to_code(chat, AMEX)
    await chat.send(AMEX.code[:3])
    assert chat.keys == ["card.mismatch", "ask.card"] and chat.state == "card"


@pytest.mark.parametrize(
    ("expiry", "code"), [("12/29", "999"), ("11/29", "123")], ids=["wrong-code", "wrong-expiry"]
)
async def test_a_wrong_triple_never_says_which_part(chat: Chat, expiry: str, code: str) -> None:
    await chat.send("/start")
    await chat.send(VISA.number)
    await chat.send(expiry)
    await chat.send(code)
    assert chat.keys == ["card.mismatch", "ask.card"]
    assert chat.state == "card"


async def test_an_unknown_card_gets_the_same_answer_as_a_wrong_code(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send("4111 1111 1111 1111")
    await chat.send("12/29")
    await chat.send("123")
    assert chat.keys == ["card.mismatch", "ask.card"]


# Eligibility --------------------------------------------------------------------------


async def test_corporate_card_cannot_register(chat: Chat) -> None:
    from tests.enroll import CORPORATE

    await to_code(chat, CORPORATE)
    await chat.send(CORPORATE.code)
    assert chat.keys == ["eligibility.corporate", "ask.closed"] and chat.state == "closed"
    await chat.send(choice="start")
    assert chat.state == "card"


async def test_club_on_card_is_sent_to_its_own_registration(chat: Chat) -> None:
    from tests.enroll import CLUB_ON

    await to_code(chat, CLUB_ON)
    await chat.send(CLUB_ON.code)
    assert chat.keys == ["eligibility.clubon", "ask.closed"] and chat.state == "closed"
    assert "https://www.saisoncard.co.jp/" in chat.texts[0]  # the default page


async def test_the_club_on_page_is_configurable(settings: Settings, clock: Clock) -> None:
    from tests.enroll import CLUB_ON

    configured = settings.with_env(NETANSWER_CLUB_ON_URL="https://club-on.example.jp/entry")
    bot = start(configured, clock=clock)
    try:
        chat = Chat(bot)
        await to_code(chat, CLUB_ON)
        await chat.send(CLUB_ON.code)
        assert "https://club-on.example.jp/entry" in chat.texts[0]
    finally:
        await bot.close()


async def test_registered_card_is_told_about_re_registration_and_may_continue(chat: Chat) -> None:
    from tests.enroll import REGISTERED

    await to_code(chat, REGISTERED)
    await chat.send(REGISTERED.code)
    assert chat.state == "reregister" and "再連携" in chat.texts[-1]
    await chat.send(choice="reregister:continue")
    assert chat.state == "email"


async def test_registered_card_may_stop(chat: Chat) -> None:
    from tests.enroll import REGISTERED

    await to_code(chat, REGISTERED)
    await chat.send(REGISTERED.code)
    await chat.send("やめる")  # typing a label works like pressing it
    assert chat.state == "closed"


async def test_re_registering_replaces_the_earlier_member(chat: Chat) -> None:
    await enroll(chat)
    [first] = await _members(chat)
    other = Chat(chat.bot, user="member-2")
    await other.send(await to_passcode_again(other))
    [second] = await _members(chat)
    assert second.net_answer_id != first.net_answer_id
    async with chat.bot.database.transaction() as session:
        assert await session.get(ChatIdentity, ("console", chat.user)) is None


# Password and Net Answer ID -------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "keys"),
    [
        ("Ab1", ["password.length"]),
        ("Abcdefgh1234567XY", ["password.length"]),
        ("Sakura 2024x!", ["password.characters"]),
        ("24681357", ["password.letter"]),
        ("Sakuraabc", ["password.digit"]),
        ("Sakura19850412", ["password.birth"]),
        ("Sakura0412x", ["password.birth"]),
        ("Sakura5678x", ["password.phone"]),
        ("ab", ["password.length", "password.digit"]),
    ],
)
async def test_password_rules_each_get_their_own_message(
    chat: Chat, typed: str, keys: list[str]
) -> None:
    await to_password(chat)
    await chat.send(typed)
    assert chat.keys == [*keys, "ask.password"] and chat.state == "password"


async def test_password_strength_is_shown(chat: Chat) -> None:
    await to_password(chat)
    await chat.send("k7-Zq@w2_Lm9=Rt")
    assert chat.keys[0] == "password.strength"
    assert chat.last.replies[0].params["strength"] == phrase("value.strength.very_high")
    assert "非常に高い" in chat.texts[0]


FULL_WIDTH_PASSWORD = "Ｓａｋｕｒａ２０２４ｘ"


async def test_full_width_password_is_refused_not_changed(chat: Chat) -> None:
    await to_password(chat)
    await chat.send(FULL_WIDTH_PASSWORD)
    assert chat.keys == ["password.half_width", "ask.password"] and chat.state == "password"
    assert "半角" in chat.texts[0] and "キーボード" in chat.texts[0]


async def test_full_width_password_is_refused_in_english(chat: Chat) -> None:
    chat.lang = "en"
    await to_password(chat)
    await chat.send(FULL_WIDTH_PASSWORD)
    assert chat.keys == ["password.half_width", "ask.password"]
    assert "half-width" in chat.texts[0] and "keyboard" in chat.texts[0]


async def test_full_width_repeat_of_a_half_width_password_does_not_match(chat: Chat) -> None:
    await to_password(chat)
    await chat.send(PASSWORD)
    await chat.send(FULL_WIDTH_PASSWORD)
    assert chat.keys == ["repeat.mismatch", "ask.password"] and chat.state == "password"


async def test_password_typed_differently_the_second_time(chat: Chat) -> None:
    await to_password(chat)
    await chat.send(PASSWORD)
    await chat.send("Sakura2024y")
    assert chat.keys == ["repeat.mismatch", "ask.password"] and chat.state == "password"


async def test_email_local_part_in_password_is_refused_on_the_password(chat: Chat) -> None:
    await to_password(chat, email="Hanako@example.com")  # the email comes first
    await chat.send("hanako2024x")
    assert chat.keys[-1] == "ask.password" and chat.state == "password"
    assert chat.keys[0].startswith("password.")
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    assert chat.state == "terms"


async def test_nothing_of_the_password_but_its_hash_is_kept(chat: Chat) -> None:
    await to_password(chat)
    await chat.send(PASSWORD)
    async with chat.bot.database.transaction() as session:
        row = await session.scalar(select(Conversation))
    assert row is not None
    assert [key for key in row.slots if key.startswith("password")] == ["password_hash"]
    assert row.slots["password_hash"].startswith("$argon2id$")


async def test_password_checked_against_known_email(chat: Chat) -> None:
    await to_email(chat)
    await chat.send(EMAIL)
    await chat.send(choice="newsletter:no")
    await chat.send(choice="terms:agree")
    await chat.send(choice="confirm:edit")
    await chat.send(choice="fix:password")
    await chat.send("x1hanako.sato")
    assert chat.keys == ["password.characters", "password.email", "ask.password"]


async def test_member_may_choose_their_own_id(chat: Chat) -> None:
    await to_password(chat)
    await chat.send(choice="netid:own")
    assert chat.state == "netid"
    for typed, key in [
        ("abc", "netid.length"),
        ("taro.yamada1", "netid.characters"),
        ("taro_yamada1", "netid.password"),  # "_" is a password's: taken for one
        ("taro19850412", "netid.birth"),
        ("taro12345678", "netid.phone"),
    ]:
        await chat.send(typed)
        assert chat.keys[0] == key and chat.state == "netid"
    await chat.send("ｔａｒｏｙａｍａｄａ7")
    assert chat.keys[0] == "netid.chosen" and chat.state == "password"
    assert "発行します" not in chat.texts[-1] and "taroyamada7" in chat.texts[0]
    assert chat.last is not None and chat.last.replies[-1].choices == ()  # chosen already
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    await chat.send(EMAIL)
    await chat.send(choice="newsletter:no")
    await chat.send(choice="terms:agree")
    assert "taroyamada7" in chat.texts[-1]
    await chat.sandbox()
    await chat.send(choice="confirm:ok")
    await chat.send(await chat.passcode())
    [member] = await _members(chat)
    assert member.net_answer_id == "taroyamada7"


async def test_a_taken_id_is_refused(chat: Chat) -> None:
    await enroll(chat)
    [member] = await _members(chat)
    other = Chat(chat.bot, user="member-2")
    await to_password(other, PERSONAL[1])
    await other.send(choice="netid:own")
    await other.send(member.net_answer_id)
    assert other.keys == ["netid.taken", "ask.netid"]


# Email, newsletter, terms ------------------------------------------------------------------


async def test_carrier_address_with_dots_is_accepted_with_a_warning(chat: Chat) -> None:
    await to_email(chat)
    await chat.send("taro..yamada.@docomo.ne.jp")
    assert chat.keys == ["email.legacy", "ask.newsletter"]


async def test_two_addresses_pc_and_mobile(chat: Chat) -> None:
    await to_email(chat)
    await chat.send("hanako.sato@example.com、ｈａｎａｋｏ＠ｅｚｗｅｂ．ｎｅ．ｊｐ")
    assert chat.state == "newsletter"
    await chat.send(choice="newsletter:yes")
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    await chat.send(choice="terms:agree")
    assert "hanako.sato@example.com / hanako@ezweb.ne.jp" in chat.texts[-1]


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("taro@", "email.invalid"),
        ("a..b@gmail.com", "email.invalid"),
        ("a@example.com b@example.com c@example.com", "email.too_many"),
        ("a@example.com a@example.com", "email.duplicate"),
    ],
)
async def test_broken_addresses_are_refused(chat: Chat, typed: str, key: str) -> None:
    await to_email(chat)
    await chat.send(typed)
    assert chat.keys == [key, "ask.email"]


async def test_button_steps_ask_for_a_button(chat: Chat) -> None:
    await to_email(chat)
    await chat.send(EMAIL)
    await chat.send("maybe")
    assert chat.keys == ["choose.one", "ask.newsletter"]
    await chat.send(choice="terms:agree")  # a button of another step
    assert chat.keys == ["choose.one", "ask.newsletter"]


async def test_terms_summary_full_text_and_decline(chat: Chat) -> None:
    await walk_to(chat, "terms")
    summary = chat.texts[-1]
    assert "Web明細" in summary and "3Dセキュア" in summary and "再連携" not in summary
    await chat.send(choice="terms:full")
    assert chat.keys == ["terms.page.1", "ask.terms"]
    await chat.send(choice="terms:decline")
    assert chat.keys == ["terms.declined", "ask.closed"] and chat.state == "closed"
    async with chat.bot.database.transaction() as session:
        row = await session.scalar(select(Conversation))
    assert row is not None and row.slots == {}


# Confirmation and "back to fix" -------------------------------------------------------------


async def test_confirmation_shows_every_field_masked(chat: Chat) -> None:
    await to_confirm(chat)
    shown = chat.texts[-1]
    assert "4980 00** **** 7000" in shown and "12/29" in shown and EMAIL in shown
    assert PASSWORD not in shown and VISA.code not in shown.replace("12/29", "")
    assert [c.data for c in chat.last.replies[-1].choices] == ["confirm:ok", "confirm:edit"]


async def test_fix_the_card_and_return_to_confirmation(chat: Chat) -> None:
    from tests.enroll import MASTERCARD

    await to_confirm(chat)
    await chat.send(choice="confirm:edit")
    await chat.send(choice="fix:card")
    await chat.send(MASTERCARD.number)
    await chat.send(MASTERCARD.expiry)
    await chat.send(MASTERCARD.code)
    # Nothing of the password is kept to check against the new holder: chosen again.
    assert chat.keys == ["password.holder_changed", "ask.password"]
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    assert chat.state == "confirm"
    assert "5425 00** **** 7000" in chat.texts[-1]


async def test_fix_the_email_and_return_to_confirmation(chat: Chat) -> None:
    await to_confirm(chat)
    await chat.send(choice="confirm:edit")
    await chat.send(choice="fix:email")
    await chat.send("new.address@example.jp")
    assert chat.keys == ["password.again", "ask.password"]  # checked against the new address
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    assert chat.state == "confirm" and "new.address@example.jp" in chat.texts[-1]


async def test_fix_the_password_and_the_id(chat: Chat) -> None:
    await to_confirm(chat)
    await chat.send(choice="confirm:edit")
    await chat.send(choice="fix:password")
    await chat.send("Momiji2025z")
    await chat.send("Momiji2025z")
    assert chat.state == "confirm"
    await chat.send(choice="confirm:edit")
    await chat.send(choice="fix:netid")
    await chat.send("momijisan7")
    assert chat.state == "confirm" and "momijisan7" in chat.texts[-1]
    await chat.send(choice="confirm:edit")
    await chat.send(choice="fix:back")
    assert chat.state == "confirm"


async def test_changing_the_card_rechecks_the_id_and_password_against_the_new_holder(
    chat: Chat,
) -> None:
    from tests.enroll import MASTERCARD

    await to_password(chat)
    await chat.send(choice="netid:own")
    await chat.send("hanako1103")  # fine for the VISA holder; the Mastercard holder is 11/03
    await chat.send("Sakura1103x")
    await chat.send("Sakura1103x")
    await chat.send(choice="terms:agree")
    await chat.send(choice="confirm:edit")
    await chat.send(choice="fix:card")
    await chat.send(MASTERCARD.number)
    await chat.send(MASTERCARD.expiry)
    await chat.send(MASTERCARD.code)
    assert chat.keys == ["netid.dropped", "password.holder_changed", "ask.password"]
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    assert chat.state == "confirm"
    assert "（登録完了時に発行）" in chat.texts[-1] and "5425 00** **** 7000" in chat.texts[-1]


async def test_a_fix_never_returns_to_the_confirmation_without_a_password(chat: Chat) -> None:
    await to_confirm(chat)
    await chat.send(choice="confirm:edit")
    await chat.send(choice="fix:password")
    await chat.send("Momiji2025z")
    await chat.send("Momiji2025y")  # mismatch: the new password is gone
    assert chat.state == "password"
    await chat.send(choice="netid:own")
    await chat.send("momijisan7")
    assert chat.state == "password"  # not the confirmation: a password is still needed
    await chat.send("Momiji2025z")
    await chat.send("Momiji2025z")
    assert chat.state == "confirm" and "momijisan7" in chat.texts[-1]


@pytest.mark.parametrize("address", ["value.yes@example.com", "help.card@example.com"])
async def test_what_a_member_typed_is_only_ever_shown_as_text(chat: Chat, address: str) -> None:
    await to_confirm(chat, email=address)
    assert address in chat.texts[-1]
    await chat.send(choice="confirm:ok")
    assert chat.state == "otp"


@pytest.mark.parametrize(
    "lang, first, last", [("ja", "第1条", "第10条"), ("en", "Article 1", "Article 10")]
)
async def test_the_full_terms_are_read_page_by_page(
    chat: Chat, lang: str, first: str, last: str
) -> None:
    chat.lang = lang
    await walk_to(chat, "terms")
    await chat.send(choice="terms:full")
    assert first in chat.texts[0] and "(1/3)" in chat.texts[0]
    assert [c.data for c in chat.last.replies[-1].choices] == [
        "terms:more",
        "terms:agree",
        "terms:decline",
    ]
    await chat.send(choice="terms:more")
    assert "(2/3)" in chat.texts[0]
    await chat.send(choice="terms:more")
    assert last in chat.texts[0] and "(3/3)" in chat.texts[0]
    assert [c.data for c in chat.last.replies[-1].choices] == [
        "terms:agree",
        "terms:full",
        "terms:decline",
    ]
    await chat.send(choice="terms:agree")
    assert chat.state == "confirm"


async def test_a_card_number_typed_as_the_net_answer_id_is_refused_and_never_shown(
    chat: Chat,
) -> None:
    await to_password(chat)
    await chat.send(choice="netid:own")
    await chat.send("4111 1111 1111 1111")
    assert chat.keys == ["netid.card", "ask.netid"] and chat.state == "netid"
    assert chat.last is not None and chat.last.secret_input  # Telegram deletes it
    assert all("4111" not in text for text in chat.texts)
    async with chat.bot.database.transaction() as session:
        row = await session.scalar(select(Conversation))
    assert row is not None and "netid" not in row.slots


async def test_load_cards_enroll_alike(bot: Runtime) -> None:
    """The sandbox's load cards (one per simulated member of a load test) are accepted
    and differ only in what a masked card hides: every member's chat reads the same."""
    confirmations = []
    for n in (0, 99_999):
        demo = load_card(n)
        chat = Chat(bot, user=f"load-{n}")
        await to_confirm(chat, Card(demo.number, "12/29", demo.code, demo.pin, "09000004321"))
        confirmations.append(chat.texts)
    assert load_card(0).number != load_card(99_999).number
    assert confirmations[0] == confirmations[1]
