"""What the fuzz tests send (hypothesis strategies) and the settings they run with.

Messages are drawn from every kind a member, a buggy client or an attacker can produce:
arbitrary Unicode (lone surrogates and control characters included), 100 kB messages,
emoji, mixed scripts (full-width digits and letters, kana, kanji), the button data of
every flow (as pressed, typed, stale or malformed), commands, and the demo secrets.
"""

import copy
import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bot.registry import FLOWS
from flows.questions import Topic
from tests.enroll import NETID, NETID_PASSWORD, PASSWORD, PERSONAL, REGISTERED

#: Every button of every flow, in a stable order.
BUTTONS = sorted(
    {choice.data for flow in FLOWS for step in flow.steps.values() for choice in step.choices}
)

#: The demo values nothing may ever repeat: card numbers as typed and as digits,
#: security codes, PINs, passwords.
CARD_NUMBERS = sorted(
    {
        form
        for card in (*PERSONAL, REGISTERED)
        for form in (card.number, card.number.replace(" ", ""))
    }
)
SHORT_SECRETS = sorted(
    {value for card in (*PERSONAL, REGISTERED) for value in (card.code, card.pin)}
    | {PASSWORD, NETID_PASSWORD}
)

_COMMANDS = [
    *("/start", "/cancel", "/help", "はじめから", "キャンセル", "ヘルプ", "?", "？", "cancel"),
    *(f"/{topic.value}" for topic in Topic),
    "/start@NetAnswerBot",
    "/help extra words",
    "/",
    "//",
    "/unknown",
    "/START",
    "／ｓｔａｒｔ",  # full-width
    "/start\x00",
]

_FULL_WIDTH = st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E)  # ！ to ～
_KANA = st.characters(min_codepoint=0x3041, max_codepoint=0x30FF)
_HALF_KANA = st.characters(min_codepoint=0xFF61, max_codepoint=0xFF9F)
_KANJI = st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF)
_EMOJI = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF) | st.sampled_from(
    ["\u200d", "\ufe0f", "\u2764", "\U0001f1ef", "\U0001f1f5"]  # joiner, selector, flags
)
_CONTROL = st.characters(max_codepoint=0x1F) | st.sampled_from(
    ["\x7f", "\x85", "\u200b", "\u200e", "\u202e", "\u2028", "\ufeff", "\ufffd", "\uffff"]
)
_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
#: Any code point at all, surrogates and unassigned ones included.
_ANY = st.characters(codec=None, exclude_categories=())

_MIXED = st.text(
    st.one_of(
        _FULL_WIDTH,
        _KANA,
        _HALF_KANA,
        _KANJI,
        _EMOJI,
        _CONTROL,
        _SURROGATE,
        st.characters(max_codepoint=0x7E),
        st.sampled_from("０１２３４５６７８９－ー　"),
    ),
    max_size=40,
)
_HUGE = st.text(_ANY, min_size=1, max_size=8).map(lambda piece: (piece * 100_000)[:100_000])
_MALFORMED_BUTTONS = st.one_of(
    st.builds(lambda data, junk: data + junk, st.sampled_from(BUTTONS), _MIXED),
    st.sampled_from(BUTTONS).map(str.upper),
    st.sampled_from(BUTTONS).map(lambda data: data.replace(":", "：")),
    st.sampled_from(BUTTONS).map(lambda data: data.split(":")[0] + ":"),
    st.sampled_from(BUTTONS).map(lambda data: data[:-1]),
    st.sampled_from(["", ":", "::", "start:", ":ok", "x" * 10_000, "confirm:ok\x00"]),
    st.text(_ANY, max_size=30),
)
_SECRETS = st.sampled_from([*CARD_NUMBERS, *SHORT_SECRETS, NETID, "12/29", "000000"])
_TEXTS = st.one_of(
    st.text(_ANY, max_size=60),
    _MIXED,
    st.text(_CONTROL, min_size=1, max_size=10),
    st.text(_SURROGATE, min_size=1, max_size=3),
    st.text(_EMOJI, min_size=1, max_size=500),
    _HUGE,
    st.sampled_from(_COMMANDS),
    st.sampled_from(BUTTONS),  # a button's data typed as text
    _SECRETS,
    st.builds(lambda a, b: f"{a} {b}", _SECRETS, _MIXED),
)

#: What a member sends: ("text", typed) or ("choice", the data of a pressed button).
MESSAGES = st.one_of(
    st.tuples(st.just("text"), _TEXTS),
    st.tuples(st.just("choice"), st.sampled_from(BUTTONS) | _MALFORMED_BUTTONS | _SECRETS),
)


# Request bodies: a valid one with one field replaced, or broken.

Path = tuple[str | int, ...]
_GONE = object()  # the field removed instead of replaced

#: Values of every JSON type, and a few a parser may choke on.
_VALUES = st.one_of(
    st.just(_GONE),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 2**63, 10**30, 1.5, -0.0, 1e308, float("nan"), float("inf")]),
    st.text(_ANY, max_size=30),
    st.sampled_from([100_000, 1, 3]).map(lambda size: "x" * size),
    st.sampled_from(["", "\x00", "１２３", "U" + "f" * 32]),
    st.lists(st.integers() | st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
    st.just({"a": {"b": {"c": [{"d": None}]}}}),
)


def _paths(value: Any, at: Path = ()) -> list[Path]:
    """Every field and list item of a JSON value, outermost first."""
    found = [at] if at else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*at, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*at, index))
    return found


def _replaced(body: Any, path: Path, value: Any) -> Any:
    changed = copy.deepcopy(body)
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    if value is _GONE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return changed


def bodies(template: Any) -> st.SearchStrategy[bytes]:
    """Request bodies made from ``template``: one field replaced or removed, the JSON
    cut short or a byte of it changed, or any bytes at all."""
    mutated = st.builds(
        lambda path, value: json.dumps(_replaced(template, path, value)).encode(),
        st.sampled_from(_paths(template)),
        _VALUES,
    )
    text = json.dumps(template).encode()
    cut = st.integers(0, len(text) - 1).map(lambda at: text[:at])
    flipped = st.builds(
        lambda at, byte: text[:at] + bytes([byte]) + text[at + 1 :],
        st.integers(0, len(text) - 1),
        st.integers(0, 255),
    )
    return st.one_of(mutated, mutated, cut, flipped, st.binary(max_size=300))


def fuzzing(examples: int) -> settings:
    """A fuzz test's settings: ``examples`` (what CI can afford), or the ``fuzz``
    profile's count when that profile is loaded (tests/conftest.py).

    Health checks left out, and why: a function-scoped fixture (the conversation a test
    walks to its state once) is shared by the examples on purpose, each example putting
    it back first; and an example is a database transaction or an HTTP request, slower
    than hypothesis expects of a pure function."""
    more = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
    return settings(
        max_examples=settings.get_profile("fuzz").max_examples if more else examples,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
