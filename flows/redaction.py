"""What of a member's free text may be written to a transcript.

Inputs at secret steps are replaced by typed placeholders where they are read;
this is the safety net for everything else: a card number typed into the email
step, say, must not reach the transcript either.
"""

import re

from flows.text import fold

_LIMIT = 500
_DIGIT_RUN = re.compile(r"\d(?:[\s\-ー‐−]*\d){5,}")


def redact(text: str) -> str:
    """Replace every run of six or more digits (a card number, code or phone) and cap the size."""
    folded = fold(text)
    cleaned = _DIGIT_RUN.sub(lambda m: f"⟨digits:{sum(c.isdigit() for c in m[0])}⟩", folded)
    if len(cleaned) > _LIMIT:
        return cleaned[:_LIMIT] + f"⟨+{len(cleaned) - _LIMIT} chars⟩"
    return cleaned
