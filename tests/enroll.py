"""Walking a chat through the enrollment, step by step, for the tests."""

from dataclasses import dataclass

from tests.conftest import Chat


@dataclass(frozen=True)
class Card:
    number: str
    expiry: str
    code: str
    pin: str
    phone: str
    email: str | None = None  # the address the issuer holds: passcodes by mail go there


VISA = Card("4980 0012 3456 7000", "12/29", "123", "1234", "09012345678", "visa.member@example.jp")
MASTERCARD = Card(
    "5425 0012 3456 7000", "08/28", "456", "2580", "08023456789", "master.member@example.jp"
)
JCB = Card("3540 0012 3456 7005", "03/30", "789", "1357", "07034567890", "jcb.member@example.jp")
AMEX = Card("3712 345678 90104", "05/29", "4321", "9876", "09098765432")  # no address held
AMEX_BACK = Card(  # the code is 3 digits, on the back
    "3412 345678 90127", "07/30", "743", "4343", "09043434343", "amex.member@example.jp"
)
DINERS = Card("3612 345678 9013", "10/28", "246", "8642", "0312345678", "diners.member@example.jp")
MASTERCARD_2 = Card(
    "2221 0012 3456 7003", "11/31", "135", "1122", "08011112222", "mc.member@example.jp"
)
CORPORATE = Card("4980 0055 5555 5007", "06/29", "555", "5555", "09055555555")
CLUB_ON = Card("4980 0022 2222 2004", "09/29", "222", "2222", "09022222222")
REGISTERED = Card("4980 0033 3333 3003", "04/30", "333", "3333", "09033333333")
PERSONAL = (VISA, MASTERCARD, JCB, AMEX, AMEX_BACK, DINERS, MASTERCARD_2)

PASSWORD = "Sakura2024x"
EMAIL = "hanako.sato@example.com"
#: The sandbox's member registered before the bot (README), who signs in (REGISTERED's card).
NETID = "saisonvisa33"
NETID_PASSWORD = "Kumo-Sora2030"


async def to_code(chat: Chat, card: Card = VISA) -> None:
    await chat.send("/start")
    await chat.send(card.number)
    await chat.send(card.expiry)
    assert chat.state == "code"


async def to_email(chat: Chat, card: Card = VISA) -> None:
    await to_code(chat, card)
    await chat.send(card.code)
    assert chat.state == "email", chat.keys


async def to_password(chat: Chat, card: Card = VISA, email: str = EMAIL) -> None:
    await to_email(chat, card)
    await chat.send(email)
    await chat.send(choice="newsletter:no")
    assert chat.state == "password", chat.keys


async def to_confirm(chat: Chat, card: Card = VISA, email: str = EMAIL) -> None:
    await to_password(chat, card, email)
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    await chat.send(choice="terms:agree")
    assert chat.state == "confirm", chat.keys


async def to_passcode(chat: Chat, card: Card = VISA, email: str = EMAIL) -> str:
    """Reach the passcode step; returns the passcode the sandbox delivered."""
    await to_confirm(chat, card, email)
    await chat.sandbox()
    await chat.send(choice="confirm:ok")
    if chat.state == "call":  # a landline: take the passcode by mail instead
        await chat.send(choice="otp:email")
    assert chat.state == "otp", chat.keys
    return await chat.passcode()


async def to_passcode_again(chat: Chat, card: Card = VISA) -> str:
    """Re-register a card someone already enrolled, up to the passcode; returns it."""
    await to_code(chat, card)
    await chat.send(card.code)
    assert chat.state == "reregister", chat.keys
    await chat.send(choice="reregister:continue")
    await chat.send(EMAIL)
    await chat.send(choice="newsletter:no")
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    await chat.send(choice="terms:agree")
    await chat.sandbox()
    await chat.send(choice="confirm:ok")
    return await chat.passcode()


async def enroll(chat: Chat, card: Card = VISA, email: str = EMAIL) -> None:
    code = await to_passcode(chat, card, email)
    await chat.send(code)
    assert chat.state == "wallet", chat.keys
    await chat.send(choice="wallet:later")
    assert chat.state == "member"


async def sign_in(chat: Chat) -> str:
    """From the welcome to the sign-in's passcode step; returns the passcode sent."""
    await chat.send("/start")
    await chat.send(choice="welcome:signin")
    await chat.send(NETID)
    await chat.sandbox()
    await chat.send(NETID_PASSWORD)
    assert chat.state == "signin_otp", chat.keys
    return await chat.passcode()


#: The button that leads from the member's home to each of the member flow's questions.
_MEMBER_BUTTONS = {
    "points": "points:apply",
    "points_confirm": "points:apply",
    "language": "menu:language",
    "unlink": "menu:unlink",
}


async def walk_to(chat: Chat, state: str) -> None:
    """Reach any state of any flow the quickest way (``signin_page`` on a LINE chat of
    a bot with LINE's account linking configured)."""
    if state == "card":
        await chat.send("/start")
    elif state in ("expiry", "code"):
        await chat.send("/start")
        await chat.send(VISA.number)
        if state == "code":
            await chat.send(VISA.expiry)
    elif state == "password":
        await to_password(chat)
    elif state == "netid":
        await to_password(chat)
        await chat.send(choice="netid:own")
    elif state == "repeat":
        await to_password(chat)
        await chat.send(PASSWORD)
    elif state == "email":
        await to_email(chat)
    elif state == "newsletter":
        await to_email(chat)
        await chat.send(EMAIL)
    elif state == "terms":
        await to_password(chat)
        await chat.send(PASSWORD)
        await chat.send(PASSWORD)
    elif state == "pin":
        await to_passcode(chat)
        await chat.send(choice="otp:pin")
    elif state == "call":
        await to_confirm(chat, DINERS)
        await chat.send(choice="confirm:ok")
    elif state in ("confirm", "fix", "otp"):
        await to_confirm(chat)
        if state != "confirm":
            await chat.send(choice="confirm:edit" if state == "fix" else "confirm:ok")
    elif state == "reregister":
        await to_code(chat, REGISTERED)
        await chat.send(REGISTERED.code)
    elif state == "wallet":
        await chat.send(await to_passcode(chat))
    elif state == "closed":
        await chat.send("/start")
        await chat.send(VISA.number)
        await chat.send("/cancel")
    elif state in ("signin_page", "signin_id", "signin_closed"):
        await chat.send("/start")
        await chat.send(choice="welcome:signin")
        if state == "signin_closed":
            await chat.send("/cancel")
    elif state in ("signin_password", "signin_otp", "signin_pin"):
        if state == "signin_password":
            await chat.send("/start")
            await chat.send(choice="welcome:signin")
            await chat.send(NETID)
        else:
            await sign_in(chat)
        if state == "signin_pin":
            await chat.send(choice="otp:pin")
    elif state == "member" or state in _MEMBER_BUTTONS:
        await chat.send(await sign_in(chat))
        if state in _MEMBER_BUTTONS:
            await chat.send(choice=_MEMBER_BUTTONS[state])
        if state == "points_confirm":
            await chat.send("1000")
    else:
        raise AssertionError(f"walk_to knows no way to {state!r} yet: teach it")
    assert chat.state == state, (state, chat.keys)


def answers_to_passcode(card: Card = VISA, email: str = EMAIL) -> list[tuple[str, str]]:
    """What a member sends from the start to the passcode, in order, for tests that
    drive a channel: ("text", typed) or ("choice", button data)."""
    return [
        *(("text", typed) for typed in ("/start", card.number, card.expiry, card.code, email)),
        ("choice", "newsletter:no"),
        ("text", PASSWORD),
        ("text", PASSWORD),
        ("choice", "terms:agree"),
        ("choice", "confirm:ok"),
    ]
