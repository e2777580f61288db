"""The Net Answer password: the issuer's rules and a strength rating."""

import re
import threading
from collections.abc import Sequence
from enum import StrEnum

from zxcvbn import zxcvbn

from flows.personal import Personal
from flows.problems import Invalid, Problem

MIN_LENGTH = 8
MAX_LENGTH = 16
# Shorter local parts ("ab@...") would forbid too many ordinary passwords.
_MIN_EMAIL_LOCAL = 4

_ALLOWED = re.compile(r"[A-Za-z0-9\-=@_]*")
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")

# zxcvbn keeps the user inputs in a module-level dictionary while it rates.
_ZXCVBN_LOCK = threading.Lock()


def check_password(password: str, personal: Personal, email_locals: Sequence[str] = ()) -> str:
    """The password, or every rule it breaks. A password with anything not half-width
    (full-width letters or digits included) is refused with that one rule and not
    changed: a converted password would not be the one the member types elsewhere."""
    if not password.isascii():
        raise Invalid(Problem("password.half_width"))
    problems = _shape_problems(password)
    collisions = personal.collisions(password)
    problems.extend(
        Problem(f"password.{rule}") for rule in ("birth", "phone") if rule in collisions
    )
    if _contains_email_local(password, email_locals):
        problems.append(Problem("password.email"))
    if problems:
        raise Invalid(*problems)
    return password


def shaped_like_password(text: str) -> bool:
    """Whether ``text`` keeps every rule of a password's shape (length, alphabet, a
    letter and a digit), whoever typed it."""
    return text.isascii() and not _shape_problems(text)


def _shape_problems(password: str) -> list[Problem]:
    problems: list[Problem] = []
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        problems.append(Problem("password.length", {"min": MIN_LENGTH, "max": MAX_LENGTH}))
    if not _ALLOWED.fullmatch(password):
        problems.append(Problem("password.characters"))
    if not _LETTER.search(password):
        problems.append(Problem("password.letter"))
    if not _DIGIT.search(password):
        problems.append(Problem("password.digit"))
    return problems


def _contains_email_local(text: str, email_locals: Sequence[str]) -> bool:
    lowered = text.lower()
    return any(
        len(local) >= _MIN_EMAIL_LOCAL and local.lower() in lowered for local in email_locals
    )


class Strength(StrEnum):
    VERY_HIGH = "very_high"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


_BY_SCORE = {4: Strength.VERY_HIGH, 3: Strength.HIGH, 2: Strength.MEDIUM}


def strength(password: str, personal: Personal) -> Strength:
    """Rate a password that passed check_password (longer ones raise ValueError)."""
    user_inputs = [fragment for _, fragment in personal.fragments()]
    with _ZXCVBN_LOCK:
        result = zxcvbn(password, user_inputs=user_inputs, max_length=MAX_LENGTH)
    return _BY_SCORE.get(result["score"], Strength.LOW)
