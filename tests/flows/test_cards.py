import contextlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.cards import (
    Brand,
    CardNumber,
    Expiry,
    brand_of,
    parse_card_number,
    parse_expiry,
    parse_security_code,
)
from flows.problems import Invalid, Problem
from tests.flows import keys

TODAY = date(2026, 11, 15)

DEMO_CARDS = [
    ("4980 0012 3456 7000", Brand.VISA),
    ("5425 0012 3456 7000", Brand.MASTERCARD),
    ("3540 0012 3456 7005", Brand.JCB),
    ("3712 345678 90104", Brand.AMEX),
    ("3612 345678 9013", Brand.DINERS),
    ("2221 0012 3456 7003", Brand.MASTERCARD),
    ("4980 0055 5555 5007", Brand.VISA),
    ("4980 0022 2222 2004", Brand.VISA),
    ("4980 0033 3333 3003", Brand.VISA),
]


def _problems(text: str) -> tuple[Problem, ...]:
    with pytest.raises(Invalid) as exc_info:
        parse_card_number(text)
    return exc_info.value.problems


# --- brands -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("brand", "length", "code_length", "front", "label"),
    [
        (Brand.VISA, 16, 3, False, "VISA"),
        (Brand.MASTERCARD, 16, 3, False, "Mastercard"),
        (Brand.JCB, 16, 3, False, "JCB"),
        (Brand.AMEX, 15, 4, True, "American Express"),
        (Brand.DINERS, 14, 3, False, "Diners Club"),
    ],
)
def test_brand_properties(
    brand: Brand, length: int, code_length: int, front: bool, label: str
) -> None:
    assert brand.length == length
    assert brand.code_length == code_length
    assert brand.code_on_front is front
    assert brand.code_lengths == ((4, 3) if brand is Brand.AMEX else (3,))
    assert brand.label == label


@pytest.mark.parametrize(
    ("prefix", "brand"),
    [
        ("4", Brand.VISA),
        ("51", Brand.MASTERCARD),
        ("55", Brand.MASTERCARD),
        ("2221", Brand.MASTERCARD),
        ("2720", Brand.MASTERCARD),
        ("3528", Brand.JCB),
        ("3589", Brand.JCB),
        ("34", Brand.AMEX),
        ("37", Brand.AMEX),
        ("36", Brand.DINERS),
        ("300", Brand.DINERS),
        ("305", Brand.DINERS),
        ("38", Brand.DINERS),
        ("39", Brand.DINERS),
    ],
)
def test_brand_of_prefixes(prefix: str, brand: Brand) -> None:
    assert brand_of(prefix.ljust(16, "0")) is brand


@pytest.mark.parametrize(
    "prefix", ["50", "56", "2220", "2721", "3527", "3590", "306", "35", "6011", "1", "9", ""]
)
def test_brand_of_unknown(prefix: str) -> None:
    assert brand_of(prefix.ljust(16, "0") if prefix else "") is None


def test_brand_of_non_digits() -> None:
    assert brand_of("4abc") is None


# --- card number ------------------------------------------------------------


@pytest.mark.parametrize(("text", "brand"), DEMO_CARDS)
def test_demo_cards_parse(text: str, brand: Brand) -> None:
    card = parse_card_number(text)
    assert card.brand is brand
    assert card.digits == text.replace(" ", "")
    assert len(card.digits) == brand.length


@pytest.mark.parametrize(
    "text",
    [
        "４９８０　００１２ー３４５６－７０００",
        "4980ー0012ー3456ー7000",
        "4980‐0012‐3456‐7000",
        "4980−0012−3456−7000",
        "4980－0012－3456－7000",
        "4980-0012-3456-7000",
        "  4980001234567000  ",
        "4980\u30000012\u30003456\u30007000",
        "４９８０００１２３４５６７０００",
    ],
)
def test_separators_and_full_width_accepted(text: str) -> None:
    assert parse_card_number(text).digits == "4980001234567000"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("4980 0012 3456 7000", "4980 00** **** 7000"),
        ("3712 345678 90104", "3712 34**** *0104"),
        ("3612 345678 9013", "3612 34**** 9013"),
    ],
)
def test_masked(text: str, masked: str) -> None:
    card = parse_card_number(text)
    assert card.masked == masked
    assert card.last4 == text.replace(" ", "")[-4:]


def test_repr_and_str_do_not_reveal_digits() -> None:
    card = parse_card_number("4980 0012 3456 7000")
    for shown in (repr(card), str(card), f"{card}", f"{card!r}", repr([card])):
        assert "4980001234567000" not in shown
        assert "001234" not in shown
        assert "4980 00** **** 7000" in shown


def test_masked_of_odd_lengths_hides_the_middle() -> None:
    card = CardNumber("1234567890", Brand.VISA)
    assert card.masked.replace(" ", "") == "12****7890"


@pytest.mark.parametrize("text", ["", "   ", "\u3000", "ー－"])
def test_card_empty(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_card_number(text)
    assert keys(exc_info) == ["card.empty"]


@pytest.mark.parametrize("text", ["4980abc", "4980 0012 3456 700O", "💳", "4980/0012", "٤٩٨٠"])
def test_card_characters(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_card_number(text)
    assert keys(exc_info) == ["card.characters"]


def test_card_brand_with_plausible_length() -> None:
    assert _problems("6011 0000 0000 0004") == (Problem("card.brand"),)


@pytest.mark.parametrize(("text", "given"), [("1234", 4), ("1234567890", 10), ("9" * 20, 20)])
def test_unknown_prefix_and_wrong_length_is_one_length_problem(text: str, given: int) -> None:
    assert _problems(text) == (
        Problem("card.length.range", {"min": 14, "max": 16, "given": given}),
    )


@pytest.mark.parametrize(
    ("text", "expected", "given"),
    [
        ("4980 0012 3456 700", 16, 15),
        ("4980 0012 3456 7000 0", 16, 17),
        ("3712 345678 9010", 15, 14),
        ("3612 345678 90130", 14, 15),
        ("4", 16, 1),
    ],
)
def test_card_length(text: str, expected: int, given: int) -> None:
    assert _problems(text) == (Problem("card.length", {"expected": expected, "given": given}),)


@pytest.mark.parametrize("text", ["4980 0012 3456 7001", "3712 345678 90105", "3612 345678 9012"])
def test_card_luhn(text: str) -> None:
    assert _problems(text) == (Problem("card.luhn"),)


def test_card_luhn_not_checked_on_wrong_length() -> None:
    assert keys_of("4980 0012 3456 70011") == ["card.length"]


def keys_of(text: str) -> list[str]:
    return [problem.key for problem in _problems(text)]


@pytest.mark.parametrize(
    "text", ["1" * 10_000, "x" * 10_000, "4" + "-" * 10_000, "😀" * 1000, "\x00", "\n\t"]
)
def test_card_hostile_input_only_raises_invalid(text: str) -> None:
    with pytest.raises(Invalid):
        parse_card_number(text)


@pytest.mark.parametrize(
    "text", ["4980 0012 3456 7001", "4980 0012 3456 70", "4980 0012 3456 7000 12", "4980001x"]
)
def test_card_problems_do_not_carry_the_digits(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_card_number(text)
    digits = "".join(char for char in text if char.isdigit())
    _assert_no_leak(exc_info.value, digits)


def _assert_no_leak(error: Invalid, secret: str) -> None:
    windows = {secret[i : i + 4] for i in range(len(secret) - 3)}
    shown = [str(error), repr(error)] + [
        str(value) for problem in error.problems for value in problem.params.values()
    ]
    for text in shown:
        assert not any(window in text for window in windows), text


@given(st.text())
def test_card_arbitrary_text_only_raises_invalid(text: str) -> None:
    with contextlib.suppress(Invalid):
        parse_card_number(text)


# --- expiry -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "01/28",
        "0128",
        "1/28",
        "01／28",
        "０１／２８",
        "０１２８",
        "01-28",
        "01 28",
        "01ー28",
        "01.28",
        "01/2028",
        " 01 / 28 ",
        "012028",
    ],
)
def test_expiry_accepted(text: str) -> None:
    expiry = parse_expiry(text, TODAY)
    assert expiry == Expiry(1, 2028)
    assert expiry.text == "01/28"


def test_expiry_current_month_is_valid() -> None:
    assert parse_expiry("11/26", TODAY) == Expiry(11, 2026)
    assert not Expiry(11, 2026).is_past(date(2026, 11, 30))
    assert Expiry(11, 2026).is_past(date(2026, 12, 1))


@pytest.mark.parametrize(
    "text",
    ["", "2028/01", "1/2/28", "128", "01/2", "01/028", "ab/cd", "01月28年", "📅", "1" * 9999],
)
def test_expiry_format(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_expiry(text, TODAY)
    assert keys(exc_info) == ["expiry.format"]


@pytest.mark.parametrize("text", ["00/28", "13/28", "99/99", "0028"])
def test_expiry_month(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_expiry(text, TODAY)
    assert keys(exc_info) == ["expiry.month"]


@pytest.mark.parametrize("text", ["10/26", "12/25", "01/1999"])
def test_expiry_past(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_expiry(text, TODAY)
    assert keys(exc_info) == ["expiry.past"]


@given(st.text())
def test_expiry_arbitrary_text_only_raises_invalid(text: str) -> None:
    with contextlib.suppress(Invalid):
        parse_expiry(text, TODAY)


# --- security code ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "brand", "code"),
    [
        ("123", Brand.VISA, "123"),
        ("１２３", Brand.JCB, "123"),
        (" 123 ", Brand.MASTERCARD, "123"),
        ("\u3000０１２\u3000", Brand.DINERS, "012"),
        ("1234", Brand.AMEX, "1234"),
        ("123", Brand.AMEX, "123"),  # some AMEX cards have 3 digits on the back
    ],
)
def test_code_accepted(text: str, brand: Brand, code: str) -> None:
    assert parse_security_code(text, brand) == code


@pytest.mark.parametrize(
    ("text", "brand", "expected"),
    [("12", Brand.VISA, 3), ("1234", Brand.VISA, 3), ("", Brand.JCB, 3)],
)
def test_code_length(text: str, brand: Brand, expected: int) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_security_code(text, brand)
    assert exc_info.value.problems == (Problem("code.length", {"expected": expected}),)


@pytest.mark.parametrize("text", ["12", "12345", ""])
def test_amex_code_length_names_both_places(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_security_code(text, Brand.AMEX)
    assert exc_info.value.problems == (Problem("code.length.amex"),)


@pytest.mark.parametrize("text", ["12a", "1 3", "１２ａ", "😀😀😀"])
def test_code_characters(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_security_code(text, Brand.VISA)
    assert keys(exc_info) == ["code.characters"]


def test_code_characters_and_length_is_one_problem() -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_security_code("12a45", Brand.VISA)
    assert keys(exc_info) == ["code.characters"]


@pytest.mark.parametrize("text", ["9876", "98765", "98x7"])
def test_code_problems_do_not_carry_the_digits(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_security_code(text, Brand.VISA)
    shown = [str(exc_info.value)] + [
        str(value) for problem in exc_info.value.problems for value in problem.params.values()
    ]
    assert not any("98" in item for item in shown)


@given(st.text(), st.sampled_from(list(Brand)))
def test_code_arbitrary_text_only_raises_invalid(text: str, brand: Brand) -> None:
    with contextlib.suppress(Invalid):
        parse_security_code(text, brand)
