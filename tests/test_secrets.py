"""After whole enrollments, including mistakes, no secret is anywhere in clear:
not in the database (every table, and the SQLite files byte for byte), not in the logs."""

import asyncio
import logging
import random
import re
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from bot.config import Settings
from bot.runtime import start
from bot.telephony import inbound_call
from tests.conftest import Chat, Clock
from tests.enroll import (
    AMEX,
    DINERS,
    EMAIL,
    MASTERCARD_2,
    PASSWORD,
    VISA,
    Card,
    to_code,
    to_passcode,
)


def _pattern(secret: str) -> re.Pattern[bytes]:
    """The secret as a whole token: not a piece of a longer run of letters and digits."""
    return re.compile(rb"(?<![0-9A-Za-z])" + re.escape(secret.encode()) + rb"(?![0-9A-Za-z])")


async def _dump_tables(chat: Chat) -> bytes:
    metadata = MetaData()
    async with chat.bot.database.engine.connect() as connection:
        await connection.run_sync(metadata.reflect)
        rows = []
        for table in metadata.sorted_tables:
            rows += [repr(tuple(row)) for row in await connection.execute(select(table))]
    return "\n".join(rows).encode()


async def _enroll_with_mistakes(chat: Chat, card: Card, path: str) -> list[str]:
    """Enroll, making mistakes on the way, finishing the identity check by ``path``
    (sms, mail, pin or call); returns every passcode the member was sent."""
    await to_code(chat, card)
    await chat.send("0000")  # a wrong code first
    await chat.send(card.number)
    await chat.send(card.expiry)
    await chat.send(card.code)
    await chat.send(card.number)  # a card number typed where the email belongs
    await chat.send(EMAIL)
    await chat.send(choice="newsletter:yes")
    await chat.send(card.pin)  # a PIN typed where the password belongs
    await chat.send(PASSWORD)
    await chat.send(PASSWORD)
    await chat.send(choice="terms:agree")
    await chat.sandbox()
    await chat.send(choice="confirm:ok")
    if path == "call":
        await chat.send(choice="otp:called")  # before calling
        bot = chat.bot
        await inbound_call(bot.database, bot.vault, card.phone, bot.engine.services.clock())
        await chat.send(choice="otp:called")
        assert chat.state == "wallet"
        return []
    if chat.state == "call":  # a landline asking for the passcode by mail
        await chat.send(choice="otp:email")
    codes = [await chat.passcode()]
    await chat.send(f"{(int(codes[0]) + 1) % 10**6:06d}")
    if path == "pin":
        await chat.send(choice="otp:pin")
        await chat.send(f"{(int(card.pin) + 1) % 10**4:04d}")
        await chat.send(card.pin)
    else:
        await chat.send(codes[0])
    assert chat.state == "wallet"
    return codes


@pytest.mark.parametrize(
    ("card", "path"),
    [(AMEX, "sms"), (DINERS, "mail"), (VISA, "pin"), (DINERS, "call")],
    ids=["amex-sms", "diners-mail", "visa-pin", "diners-call"],
)
async def test_no_secret_in_clear_in_database_or_logs(
    settings: Settings, clock: Clock, caplog: pytest.LogCaptureFixture, card: Card, path: str
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # statements and parameters
    bot = await asyncio.to_thread(start, settings, clock=clock, rng=random.Random(11))
    try:
        chat = Chat(bot)
        passcodes = await _enroll_with_mistakes(chat, card, path)
        other = Chat(bot, user="member-2")
        passcodes.append(await to_passcode(other, MASTERCARD_2))  # left unfinished
        tables = await _dump_tables(chat)
    finally:
        await bot.close()
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)

    logs = "\n".join(record.getMessage() for record in caplog.records)
    # SQLAlchemy shortens a long statement with "... 1234 characters truncated ...":
    # a length that may happen to equal a PIN.
    logs = re.sub(r"\.\.\. \d+ characters truncated \.\.\.", "...", logs)
    places = {"tables": tables, "logs": logs.encode()}
    if settings.database_url.startswith("sqlite"):
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        for file in path.parent.glob(path.name + "*"):
            places[file.name] = file.read_bytes()
    assert len(places["logs"]) > 1000, "the logs were not captured"
    digits = card.number.replace(" ", "")
    secrets = {"password": PASSWORD, **{f"passcode {n}": code for n, code in enumerate(passcodes)}}
    for each in (card, MASTERCARD_2):
        secrets |= {
            f"{each.number} as typed": each.number,
            f"{each.number} digits": each.number.replace(" ", ""),
            f"{each.number} security code": each.code,
            f"{each.number} PIN": each.pin,
        }
    for place, content in places.items():
        for name, secret in secrets.items():
            assert not _pattern(secret).search(content), f"{name} found in {place}"
    # the masked number is what may be shown
    assert (digits[:4] + " " + digits[4:6]).encode() in tables
