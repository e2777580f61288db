"""Landline identity checks from the telephony side: the issuer's toll-free line
reports each caller's number; a pending check for that number is marked passed."""

from datetime import datetime

import phonenumbers

from flows.enrollment import State
from storage import call_checks
from storage.database import Database
from storage.vault import Vault

_PURPOSE = "phone"


class UnknownNumber(ValueError):
    """The caller's number could not be read as a Japanese phone number."""


def national_digits(number: str) -> str:
    """``03-1234-5678``, ``+81 3 1234 5678`` and ``0312345678`` all give ``0312345678``."""
    try:
        parsed = phonenumbers.parse(number, "JP")
    except phonenumbers.NumberParseException as error:
        raise UnknownNumber("not a phone number") from error
    if not phonenumbers.is_possible_number(parsed):
        raise UnknownNumber("not a possible phone number")
    return (
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        .replace("-", "")
        .replace(" ", "")
    )


def phone_index(vault: Vault, number: str) -> str:
    """The keyed index a caller is matched by, so no phone number is stored in clear."""
    return vault.index(national_digits(number), _PURPOSE)


async def inbound_call(database: Database, vault: Vault, caller: str, now: datetime) -> int:
    """Record a call; returns how many pending checks it passed (0: no match, or late)."""
    index = phone_index(vault, caller)
    async with database.transaction() as session:
        return await call_checks.record_call(session, index, now, waiting_state=State.CALL)
