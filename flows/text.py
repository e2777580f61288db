"""Folding of what members type on Japanese phones into plain half-width text."""

import re
import unicodedata

#: Dashes members type between digit groups; NFKC folds the full-width hyphen-minus itself.
DASHES = "ー‐‑‒–—―−ｰ"
_SEPARATORS = re.compile(f"[\\s\\-{DASHES}]+")


def fold(text: str) -> str:
    """NFKC-normalise (full-width digits, letters and spaces become half-width) and trim."""
    return unicodedata.normalize("NFKC", text).strip()


def strip_separators(text: str) -> str:
    """Fold, then drop spaces, hyphens and the dashes members type between digit groups."""
    return _SEPARATORS.sub("", fold(text))
