from datetime import date

import pytest

from flows.personal import Personal

BIRTH = date(1985, 7, 9)


@pytest.mark.parametrize(
    "phone_text",
    [
        "09012345678",
        "090-1234-5678",
        "０９０－１２３４－５６７８",
        "090 1234 5678",
        "+81 90-1234-5678",
        "(090)1234ー5678",
    ],
)
def test_of_normalises_the_phone(phone_text: str) -> None:
    assert Personal.of(BIRTH, phone_text) == Personal(BIRTH, "09012345678")


@pytest.mark.parametrize("phone_text", ["090-abcd-5678", "📞", "090.1234.5678"])
def test_of_refuses_what_is_not_a_phone_number(phone_text: str) -> None:
    with pytest.raises(ValueError) as exc_info:
        Personal.of(BIRTH, phone_text)
    assert phone_text not in str(exc_info.value)


def test_fragments() -> None:
    assert Personal(BIRTH, "09012345678").fragments() == [
        ("birth", "19850709"),
        ("birth", "850709"),
        ("birth", "0709"),
        ("birth", "1985"),
        ("phone", "09012345678"),
        ("phone", "5678"),
    ]


def test_fragments_without_a_phone_never_match_everything() -> None:
    personal = Personal(BIRTH, "")
    assert [rule for rule, _ in personal.fragments()] == ["birth"] * 4
    assert personal.collisions("anything") == set()


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("abc19850709", {"birth"}),
        ("x850709x", {"birth"}),
        ("pass0709", {"birth"}),
        ("year1985", {"birth"}),
        ("tel09012345678", {"phone"}),
        ("abc5678x", {"phone"}),
        ("1985x5678", {"birth", "phone"}),
        ("nothing123", set()),
        ("", set()),
    ],
)
def test_collisions(text: str, rules: set[str]) -> None:
    assert Personal(BIRTH, "09012345678").collisions(text) == rules
