"""The Net Answer ID: chosen by the member on the web form, issued by the app."""

import re
from collections.abc import Callable, Sequence

from flows.passwords import shaped_like_password
from flows.personal import Personal
from flows.problems import Invalid, Problem
from flows.text import fold

MIN_LENGTH = 8
MAX_LENGTH = 16
ISSUED_LENGTH = 10
_MIN_EMAIL_LOCAL = 4
_ALLOWED = re.compile(r"[A-Za-z0-9]*")

# Lower case only, without the look-alikes 0/o, 1/l/i, so an issued ID reads back
# unambiguously from a screen or a letter.
_LETTERS = "abcdefghjkmnpqrstuvwxyz"
_DIGITS = "23456789"
_ISSUE_ATTEMPTS = 1000


def looks_like_password(text: str) -> bool:
    """Whether ``text`` can only be a password: it has a character no ID has (``- = @ _``)
    and keeps the password's shape. Typed at an ID step, it is a password typed too soon
    (or arriving before the ID): refused, never repeated, never kept."""
    return not _ALLOWED.fullmatch(fold(text)) and shaped_like_password(text.strip())


def parse_net_answer_id(text: str, personal: Personal, email_locals: Sequence[str] = ()) -> str:
    if looks_like_password(text):
        raise Invalid(Problem("netid.password"))
    netid = fold(text)
    problems: list[Problem] = []
    if not MIN_LENGTH <= len(netid) <= MAX_LENGTH:
        problems.append(Problem("netid.length", {"min": MIN_LENGTH, "max": MAX_LENGTH}))
    if not _ALLOWED.fullmatch(netid):
        problems.append(Problem("netid.characters"))
    collisions = personal.collisions(netid)
    problems.extend(Problem(f"netid.{rule}") for rule in ("birth", "phone") if rule in collisions)
    lowered = netid.lower()
    if any(len(local) >= _MIN_EMAIL_LOCAL and local.lower() in lowered for local in email_locals):
        problems.append(Problem("netid.email"))
    if problems:
        raise Invalid(*problems)
    return netid


def issue_net_answer_id(personal: Personal, pick: Callable[[str], str]) -> str:
    """Draw IDs with `pick` (e.g. secrets.choice) until one passes the ID rules.

    The first character is a letter; at least one digit is required.
    Raises RuntimeError if `pick` never yields a usable ID (a broken picker).
    """
    for _ in range(_ISSUE_ATTEMPTS):
        chars = [pick(_LETTERS)] + [pick(_LETTERS + _DIGITS) for _ in range(ISSUED_LENGTH - 1)]
        candidate = "".join(chars)
        if not any(char in _DIGITS for char in candidate):
            continue
        try:
            return parse_net_answer_id(candidate, personal)
        except Invalid:
            continue
    raise RuntimeError("could not draw a Net Answer ID; is the picker random?")
