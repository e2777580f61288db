import contextlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.passwords import Strength, check_password, shaped_like_password, strength
from flows.personal import Personal
from flows.problems import Invalid, Problem
from tests.flows import keys

PERSONAL = Personal(date(1985, 7, 9), "09012345678")


def _keys_of(text: str, email_locals: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(Invalid) as exc_info:
        check_password(text, PERSONAL, email_locals)
    return keys(exc_info)


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ("abc12345", "abc12345"),
        ("Kx-9=q@_Zr", "Kx-9=q@_Zr"),
        ("a" * 15 + "1", "a" * 15 + "1"),
    ],
)
def test_accepted(text: str, password: str) -> None:
    assert check_password(text, PERSONAL) == password


def test_length() -> None:
    with pytest.raises(Invalid) as exc_info:
        check_password("abc123", PERSONAL)
    assert exc_info.value.problems == (Problem("password.length", {"min": 8, "max": 16}),)
    assert _keys_of("a" * 16 + "12") == ["password.length"]


@pytest.mark.parametrize("text", ["abc12345!", "abc 12345", "abc.1234", "\x00\n\tab1234"])
def test_characters(text: str) -> None:
    assert _keys_of(text) == ["password.characters"]


@pytest.mark.parametrize(
    "text",
    [
        "Ｓａｋｕｒａ２０２４ｘ",  # full-width letters and digits are refused, not folded
        "Sakura2024ｘ",
        "Ｋｘ－９＝ｑ＠＿Ｚｒ",
        "abc\u300012345",
        "pwパスワード12345",
        "abcd1234ｶ",  # half-width katakana are not ASCII either
        "abcdefg①",
        "abc12345😀",
    ],
)
def test_anything_not_half_width_is_refused_with_one_named_rule(text: str) -> None:
    assert _keys_of(text) == ["password.half_width"]


def test_letter() -> None:
    assert _keys_of("24682468") == ["password.letter"]


def test_digit() -> None:
    assert _keys_of("abcdefgh") == ["password.digit"]


@pytest.mark.parametrize("text", ["ab19850709", "ab850709x", "abcd0709", "abcd1985"])
def test_birth(text: str) -> None:
    assert _keys_of(text) == ["password.birth"]


@pytest.mark.parametrize("text", ["a09012345678", "abcd5678"])
def test_phone(text: str) -> None:
    assert _keys_of(text) == ["password.phone"]


def test_email_local_part_case_insensitive() -> None:
    assert _keys_of("xTaRo42y", ("taro", "other")) == ["password.email"]


def test_short_email_local_part_is_ignored() -> None:
    assert check_password("xabc42yz", PERSONAL, ("abc",)) == "xabc42yz"


def test_email_local_part_with_dots() -> None:
    assert _keys_of("a.b..c1234", ("a.b..c",)) == ["password.characters", "password.email"]


def test_every_broken_rule_is_reported() -> None:
    assert _keys_of("") == ["password.length", "password.letter", "password.digit"]
    assert _keys_of("!!!") == [
        "password.length",
        "password.characters",
        "password.letter",
        "password.digit",
    ]
    assert _keys_of("taro 1985 5678 xxxxxxx", ("taro",)) == [
        "password.length",
        "password.characters",
        "password.birth",
        "password.phone",
        "password.email",
    ]


@pytest.mark.parametrize("text", ["x" * 10_000, "1" * 10_000, "😀" * 100, "\x00\n\t"])
def test_hostile_input_only_raises_invalid(text: str) -> None:
    with pytest.raises(Invalid):
        check_password(text, PERSONAL)


@pytest.mark.parametrize("text", ["Secret#4242", "Secret4242" * 3, "4242", "Secret 4242"])
def test_problems_do_not_carry_the_password(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        check_password(text, PERSONAL, ("someone",))
    shown = [str(exc_info.value), repr(exc_info.value)] + [
        str(value) for problem in exc_info.value.problems for value in problem.params.values()
    ]
    assert not any("4242" in item or "Secret" in item for item in shown)


@given(st.text(), st.lists(st.text(), max_size=2))
def test_arbitrary_text_only_raises_invalid(text: str, email_locals: list[str]) -> None:
    with contextlib.suppress(Invalid):
        check_password(text, PERSONAL, email_locals)


# --- strength ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("password1", Strength.LOW),
        ("abcd1234", Strength.LOW),
        ("Tq7-mZ2@wX9_kL4e", Strength.VERY_HIGH),
    ],
)
def test_strength(password: str, expected: Strength) -> None:
    assert strength(password, PERSONAL) is expected


def test_strength_penalises_personal_data() -> None:
    # A phone number is random to zxcvbn unless it is told whose it is.
    unrelated = Personal(date(1970, 1, 1), "0311112222")
    owner = Personal(date(1970, 1, 1), "09038471625")
    assert strength("kq09038471625", unrelated) is Strength.VERY_HIGH
    assert strength("kq09038471625", owner) is Strength.LOW


def test_strength_values() -> None:
    assert [s.value for s in Strength] == ["very_high", "high", "medium", "low"]


@given(st.from_regex(r"[A-Za-z0-9\-=@_]{8,16}", fullmatch=True))
def test_strength_of_any_well_formed_password(password: str) -> None:
    assert strength(password, PERSONAL) in set(Strength)


@pytest.mark.parametrize(
    ("text", "shaped"),
    [
        ("Kumo-Sora2030", True),
        ("a=b@c_d1", True),
        ("yamada19850709", True),  # the holder's birth date: still a password's shape
        ("abcdefgh", False),
        ("12345678", False),
        ("Ab1", False),
        ("Abcd!1234", False),
        ("Ａｂｃｄ１２３４", False),
    ],
)
def test_a_passwords_shape_is_checked_whoever_typed_it(text: str, shaped: bool) -> None:
    assert shaped_like_password(text) is shaped
