"""Comparing what a channel sent with what the transcript recorded, where the record
holds a placeholder (``⟨netid⟩``, ``⟨card:masked⟩``...) for a value the member saw."""

import re

_PLACEHOLDER = re.compile(r"⟨[^⟩]*⟩")


def as_recorded(sent: list[str], recorded: list[str]) -> list[str]:
    """``sent``, with each text that the record at its place matches (a placeholder
    standing for any value) replaced by that record: equal to ``recorded`` exactly when
    the two agree everywhere but in the values placeholders hide."""
    return [
        record if index < len(recorded) and _matches(text, record := recorded[index]) else text
        for index, text in enumerate(sent)
    ]


def _matches(text: str, record: str) -> bool:
    parts = _PLACEHOLDER.split(record)
    pattern = ".+?".join(re.escape(part) for part in parts)
    return re.fullmatch(pattern, text, re.DOTALL) is not None
