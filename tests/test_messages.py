"""The message catalog: every sentence exists in every language."""

import re

import pytest

from flows.messages import CATALOG, DEFAULT_LANG, text


def test_every_language_has_the_same_keys() -> None:
    keys = set(CATALOG[DEFAULT_LANG])
    for lang, catalog in CATALOG.items():
        assert set(catalog) == keys, lang


def test_the_member_is_never_called_anata() -> None:
    assert [key for key, message in CATALOG["ja"].items() if "あなた" in message] == []


def test_lockout_times_name_their_time_zone() -> None:
    for lang, zone in (("ja", "日本時間"), ("en", "Japan time (JST)")):
        shown = [key for key, message in CATALOG[lang].items() if "{until}" in message]
        assert shown and all(zone in text(key, lang, {"until": "11/24 19:30"}) for key in shown)


def test_card_number_lengths_are_written_one_way() -> None:
    for key in ("ask.card", "help.card"):
        assert "14〜16桁" in text(key, "ja") and "14-16 digits" in text(key, "en")
    assert not [m for m in CATALOG["ja"].values() if "14-16桁" in m or "14～16" in m]


def test_the_terms_summary_is_headed_main_points() -> None:
    assert "主な内容" in text("ask.terms", "ja", {"version": "1"})
    assert "主な変更点" not in text("ask.terms", "ja", {"version": "1"})
    assert "Main points" in text("ask.terms", "en", {"version": "1"})


@pytest.mark.parametrize(
    ("key", "count", "one", "other"),
    [
        ("pin.wrong", "remaining", "1 attempt left", "2 attempts left"),
        ("otp.wrong", "remaining", "1 attempt left", "2 attempts left"),
        ("otp.resend_wait", "seconds", "in 1 second.", "in 2 seconds."),
        ("call.restarted", "minutes", "within 1 minute.", "within 2 minutes."),
    ],
)
def test_english_counts_agree_with_their_noun(key: str, count: str, one: str, other: str) -> None:
    assert one in text(key, "en", {count: 1})
    assert other in text(key, "en", {count: 2})


def test_every_english_count_of_things_uses_the_plural_spec() -> None:
    # A count that can be 1, followed by its noun, must choose the noun's form.
    bare = re.compile(r"\{(remaining|seconds|minutes)\} [a-z]")
    assert [key for key, message in CATALOG["en"].items() if bare.search(message)] == []


def test_only_a_phrase_is_looked_up_in_the_catalog() -> None:
    from flows.messages import text
    from flows.replies import phrase

    assert text("netid.chosen", "ja", {"netid": "value.yes"}).count("value.yes") == 1
    assert "受け取る" in text(
        "ask.confirm",
        "ja",
        {
            "card": "1",
            "expiry": "1",
            "netid": "x",
            "emails": "value.no@example.com",
            "newsletter": phrase("value.yes"),
        },
    )
