import contextlib
import random
import secrets
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.netids import issue_net_answer_id, looks_like_password, parse_net_answer_id
from flows.personal import Personal
from flows.problems import Invalid, Problem
from tests.flows import keys

PERSONAL = Personal(date(1985, 7, 9), "09012345678")


def _keys_of(text: str, email_locals: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(Invalid) as exc_info:
        parse_net_answer_id(text, PERSONAL, email_locals)
    return keys(exc_info)


@pytest.mark.parametrize(
    ("text", "netid"),
    [
        ("yamada2024", "yamada2024"),
        ("ｙａｍａｄａ２０２４", "yamada2024"),
        ("  Yamada2024  ", "Yamada2024"),
        ("abcdefgh", "abcdefgh"),
        ("a" * 16, "a" * 16),
    ],
)
def test_accepted(text: str, netid: str) -> None:
    assert parse_net_answer_id(text, PERSONAL) == netid


@pytest.mark.parametrize("text", ["", "abc1234", "a" * 17, "x" * 10_000])
def test_length(text: str) -> None:
    with pytest.raises(Invalid) as exc_info:
        parse_net_answer_id(text, PERSONAL)
    assert exc_info.value.problems == (Problem("netid.length", {"min": 8, "max": 16}),)


@pytest.mark.parametrize(
    "text", ["yamada!2024", "yamada_san", "yamada 2024", "やまだ20240000", "ab😀cdefgh"]
)
def test_characters(text: str) -> None:
    assert _keys_of(text) == ["netid.characters"]


@pytest.mark.parametrize("text", ["yamada_2024", "yamada-2024", "Kumo-Sora2030", " a=b@c_d1 "])
def test_a_password_is_refused_as_one_alone(text: str) -> None:
    """A character only a password has, in a password's shape: one problem that names
    no input, whatever else the text breaks (here the ID's length or birth date)."""
    assert looks_like_password(text)
    assert _keys_of(text) == ["netid.password"]
    assert _keys_of("yamada-19850709") == ["netid.password"]


@pytest.mark.parametrize(
    "text", ["yamada2024", "yamada-san", "ya-1", "yamada-2024-and-more", "ｙａｍａｄａ－２０２４"]
)
def test_what_is_no_password_is_not_taken_for_one(text: str) -> None:
    """An ID, no digit, too short or long, or full-width (no password is): not one."""
    assert not looks_like_password(text)


@pytest.mark.parametrize("text", ["yamada19850709", "yamada1985", "yama0709da"])
def test_birth(text: str) -> None:
    assert _keys_of(text) == ["netid.birth"]


@pytest.mark.parametrize("text", ["y09012345678", "yamada5678"])
def test_phone(text: str) -> None:
    assert _keys_of(text) == ["netid.phone"]


def test_email_local_part() -> None:
    assert _keys_of("xxTaroYamada", ("taroyamada",)) == ["netid.email"]
    assert parse_net_answer_id("xxtaroyama", PERSONAL, ("tar",)) == "xxtaroyama"


def test_every_broken_rule_is_reported() -> None:
    assert _keys_of("1985_5678") == ["netid.characters", "netid.birth", "netid.phone"]
    assert _keys_of("1985-5678-09012345678") == [
        "netid.length",
        "netid.characters",
        "netid.birth",
        "netid.phone",
    ]


@given(st.text())
def test_arbitrary_text_only_raises_invalid(text: str) -> None:
    with contextlib.suppress(Invalid):
        parse_net_answer_id(text, PERSONAL)


# --- issued IDs -------------------------------------------------------------


def test_issued_id_is_well_formed() -> None:
    for _ in range(200):
        netid = issue_net_answer_id(PERSONAL, secrets.choice)
        assert len(netid) == 10
        assert netid[0].isalpha()
        assert any(char.isdigit() for char in netid)
        assert not set(netid) & set("0O1lIio")
        assert parse_net_answer_id(netid, PERSONAL) == netid


def test_issued_id_is_deterministic_with_a_seeded_picker() -> None:
    first = issue_net_answer_id(PERSONAL, random.Random(7).choice)
    second = issue_net_answer_id(PERSONAL, random.Random(7).choice)
    assert first == second


def test_issued_id_retries_a_collision() -> None:
    # Scripted picks: the first draw contains the phone's last four digits.
    picks = iter("a56789bcde" + "a23456bcde")
    personal = Personal(date(1985, 7, 9), "0311115678")
    assert issue_net_answer_id(personal, lambda _alphabet: next(picks)) == "a23456bcde"


def test_issued_id_retries_a_draw_without_digits() -> None:
    picks = iter("abcdefghjk" + "abcdefgh2k")
    assert issue_net_answer_id(PERSONAL, lambda _alphabet: next(picks)) == "abcdefgh2k"


def test_broken_picker_fails_loudly() -> None:
    with pytest.raises(RuntimeError):
        issue_net_answer_id(PERSONAL, lambda alphabet: alphabet[0])
