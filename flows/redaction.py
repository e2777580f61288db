"""What of a conversation may be written to a transcript.

Inputs at secret steps are replaced by typed placeholders where they are read;
this is the safety net for everything else: a card number typed into the email
step or asked about in the member flow, say, must not reach the transcript either.

Replies are kept as message keys and parameters; the values that differ from one run
to the next by design (an issued Net Answer ID, a time, a date, a masked phone or
address) and the card data a reply repeats are kept as placeholders, so a record
never holds them and a replay compares like with like.
"""

import re
from collections.abc import Mapping
from typing import Any

from flows.cards import brand_of, luhn_ok
from flows.replies import Reply
from flows.text import DASHES, fold

_LIMIT = 500
_DIGIT_RUN = re.compile(f"[0-9](?:[\\s\\-{DASHES}]*[0-9])*")
_GROUP = re.compile("[0-9]+")
_CARD_LENGTHS = range(14, 20)
_SECRET_RUN = 6  # digits in a run kept as its length only: a code, a phone, an account
_NEAR_CARD_RUN = 2  # beside a card number, even its expiry or security code

#: Reply parameters recorded as a placeholder, by name, whatever the message.
_PLACEHOLDERS = {
    "netid": "⟨netid⟩",  # issued at random, or chosen by the member
    "until": "⟨time⟩",
    "phone": "⟨masked-phone⟩",
    "card": "⟨card:masked⟩",
    "expiry": "⟨expiry⟩",
}


def redact(text: str) -> str:
    """The text with every card number (14-19 digits, Luhn valid, in any grouping or
    width, also run together with the digits after it) replaced by
    ``⟨card:<brand>:<length>:luhn-ok⟩``, every other run of six or more digits by
    ``⟨digits:N⟩`` (of two or more, where a card number was found: its expiry and
    code), and the size capped."""
    folded = fold(text)
    pieces = [piece for run in _DIGIT_RUN.finditer(folded) for piece in _pieces(folded, run)]
    near_card = any(card for _, _, card in pieces)
    shortest = _NEAR_CARD_RUN if near_card else _SECRET_RUN
    parts, end = [], 0
    for span, digits, card in pieces:
        parts.append(folded[end : span[0]])
        if card:
            parts.append(f"⟨card:{brand_of(digits) or 'unknown'}:{len(digits)}:luhn-ok⟩")
        elif len(digits) >= shortest:
            parts.append(f"⟨digits:{len(digits)}⟩")
        else:
            parts.append(folded[span[0] : span[1]])
        end = span[1]
    cleaned = "".join(parts) + folded[end:]
    if len(cleaned) > _LIMIT:
        return cleaned[:_LIMIT] + f"⟨+{len(cleaned) - _LIMIT} chars⟩"
    return cleaned


def has_card(text: str) -> bool:
    """Whether a card number appears anywhere in ``text``."""
    folded = fold(text)
    return any(card for run in _DIGIT_RUN.finditer(folded) for *_, card in _pieces(folded, run))


def _pieces(text: str, run: re.Match[str]) -> list[tuple[tuple[int, int], str, bool]]:
    """A run of digit groups cut into card numbers (the longest that starts at each
    group) and what lies between them: (span, digits, is a card)."""
    groups = [(m.start(), m.end(), m[0]) for m in _GROUP.finditer(text, run.start(), run.end())]
    pieces: list[tuple[tuple[int, int], str, bool]] = []
    plain: list[tuple[int, int, str]] = []
    at = 0
    while at < len(groups):
        end = _card_end(groups, at)
        if end is None:
            plain.append(groups[at])
            at += 1
            continue
        if plain:
            pieces.append(((plain[0][0], plain[-1][1]), "".join(g[2] for g in plain), False))
            plain = []
        digits = "".join(group[2] for group in groups[at:end])
        pieces.append(((groups[at][0], groups[end - 1][1]), digits, True))
        at = end
    if plain:
        pieces.append(((plain[0][0], plain[-1][1]), "".join(g[2] for g in plain), False))
    return pieces


def _card_end(groups: list[tuple[int, int, str]], start: int) -> int | None:
    """Where the longest card number starting at group ``start`` ends, if one does."""
    found, digits = None, ""
    for end in range(start, len(groups)):
        digits += groups[end][2]
        if len(digits) > _CARD_LENGTHS[-1]:
            break
        if _is_card(digits):
            found = end + 1
    return found


def recorded_reply(reply: Reply) -> dict[str, Any]:
    """The reply as the transcript keeps it: key, choices and placeholder-safe params."""
    return {**reply.as_json(), "params": _params(reply.params)}


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _param(name, value) for name, value in params.items()}


def _param(name: str, value: Any) -> Any:
    if isinstance(value, str):
        if name == "to":  # where a passcode went, masked
            return "⟨masked-email⟩" if "@" in value else "⟨masked-phone⟩"
        return _PLACEHOLDERS.get(name) or _cards_out(value)
    if isinstance(value, dict):
        if "day" in value:
            return "⟨date⟩"
        return {key: _nested(item) for key, item in value.items()}
    return value


def _nested(value: Any) -> Any:
    """Inside a typed parameter (statement lines): card numbers out, nothing else."""
    if isinstance(value, str):
        return _cards_out(value)
    if isinstance(value, list):
        return [_nested(item) for item in value]
    if isinstance(value, dict):
        return {key: _nested(item) for key, item in value.items()}
    return value


def _cards_out(text: str) -> str:
    return redact(text) if has_card(text) else text


def _is_card(digits: str) -> bool:
    return len(digits) in _CARD_LENGTHS and luhn_ok(digits)
