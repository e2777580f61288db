import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.emails import Email, parse_emails
from flows.problems import Invalid, Problem
from tests.flows import keys


def _problems(text: str) -> tuple[Problem, ...]:
    with pytest.raises(Invalid) as exc_info:
        parse_emails(text)
    return exc_info.value.problems


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("taro@example.com", Email("taro@example.com", mobile=False, legacy=False)),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ", Email("taro@example.com", mobile=False, legacy=False)),
        ("hanako@ezweb.ne.jp", Email("hanako@ezweb.ne.jp", mobile=True, legacy=False)),
        ("Taro@EXAMPLE.COM", Email("Taro@example.com", mobile=False, legacy=False)),
        ("  taro@example.com  ", Email("taro@example.com", mobile=False, legacy=False)),
        ("taro.yamada@docomo.ne.jp", Email("taro.yamada@docomo.ne.jp", mobile=True, legacy=False)),
        ("x@i.softbank.jp", Email("x@i.softbank.jp", mobile=True, legacy=False)),
        ("x@au.com", Email("x@au.com", mobile=True, legacy=False)),
        ("x@t.vodafone.ne.jp", Email("x@t.vodafone.ne.jp", mobile=True, legacy=False)),
    ],
)
def test_one_address(text: str, email: Email) -> None:
    assert parse_emails(text) == [email]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("taro..yamada.@docomo.ne.jp", "taro..yamada.@docomo.ne.jp"),
        ("taro.@DoCoMo.ne.jp", "taro.@docomo.ne.jp"),
        (".taro@ezweb.ne.jp", ".taro@ezweb.ne.jp"),
        ("Taro...x_y-z@ezweb.ne.jp", "Taro...x_y-z@ezweb.ne.jp"),
        ("ｔａｒｏ．．ｙ＠ｄｏｃｏｍｏ．ｎｅ．ｊｐ", "taro..y@docomo.ne.jp"),
    ],
)
def test_legacy_carrier_address(text: str, address: str) -> None:
    assert parse_emails(text) == [Email(address, mobile=True, legacy=True)]


def test_local_part() -> None:
    assert Email("taro..yamada.@docomo.ne.jp", True, True).local_part == "taro..yamada."


@pytest.mark.parametrize(
    "text",
    [
        "taro@example.com hanako@docomo.ne.jp",
        "taro@example.com,hanako@docomo.ne.jp",
        "taro@example.com、hanako@docomo.ne.jp",
        "taro@example.com，hanako@docomo.ne.jp",
        "taro@example.com\u3000hanako@docomo.ne.jp",
        "taro@example.com ,\n hanako@docomo.ne.jp",
    ],
)
def test_two_addresses(text: str) -> None:
    assert parse_emails(text) == [
        Email("taro@example.com", mobile=False, legacy=False),
        Email("hanako@docomo.ne.jp", mobile=True, legacy=False),
    ]


@pytest.mark.parametrize("text", ["", "   ", "\u3000", ",、，"])
def test_empty(text: str) -> None:
    assert _problems(text) == (Problem("email.empty"),)


@pytest.mark.parametrize(
    "text",
    [
        "taro@",
        "@docomo.ne.jp",
        "taro@@example.com",
        "taro@example",
        "a..b@gmail.com",
        "a.@gmail.com",
        "taro",
        "😀@example.com",
        "taro@😀.com",
        "taro@例え.jp",
        "taro!#..x@docomo.ne.jp",
        "..@docomo.ne.jp",
        "taro..x@docomo.ne.jp.evil.com",
        '"taro"@example.com',
    ],
)
def test_invalid(text: str) -> None:
    assert _problems(text) == (Problem("email.invalid", {"position": 1}),)


def test_full_width_invalid_address_is_refused() -> None:
    assert _problems("ｔａｒｏ＠") == (Problem("email.invalid", {"position": 1}),)


def test_space_inside_an_address_splits_it() -> None:
    assert _problems("taro yamada@example.com") == (Problem("email.invalid", {"position": 1}),)


def test_huge_input_is_invalid() -> None:
    problems = _problems("a" * 5000 + "@example.com")
    assert problems == (Problem("email.invalid", {"position": 1}),)


def test_what_was_typed_is_never_echoed() -> None:
    """A password typed at the email step must not come back in the answer."""
    [problem] = _problems("Sakura2024x")
    assert "Sakura2024x" not in str(problem.params)


def test_every_invalid_address_is_reported_by_position() -> None:
    assert _problems("taro@ hanako@example") == (
        Problem("email.invalid", {"position": 1}),
        Problem("email.invalid", {"position": 2}),
    )


def test_too_many() -> None:
    assert _problems("a@example.com b@example.com c@example.com") == (
        Problem("email.too_many", {"max": 2}),
    )
    with pytest.raises(Invalid) as exc_info:
        parse_emails("x " * 5000)
    assert keys(exc_info) == ["email.too_many"]


@pytest.mark.parametrize(
    "text",
    [
        "taro@example.com taro@example.com",
        "taro@example.com TARO@EXAMPLE.COM",
        "taro@example.com ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    ],
)
def test_duplicate(text: str) -> None:
    assert _problems(text) == (Problem("email.duplicate"),)


def test_duplicate_is_only_checked_between_valid_addresses() -> None:
    assert [problem.key for problem in _problems("taro@ taro@")] == [
        "email.invalid",
        "email.invalid",
    ]


@given(st.text())
def test_arbitrary_text_only_raises_invalid(text: str) -> None:
    with contextlib.suppress(Invalid):
        parse_emails(text)


@given(st.text(), st.text())
def test_arbitrary_address_like_text_only_raises_invalid(local: str, domain: str) -> None:
    with contextlib.suppress(Invalid):
        parse_emails(f"{local}@{domain}")
