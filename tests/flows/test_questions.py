"""What a linked member asks, read from commands, keywords and short questions."""

from datetime import date

import pytest

from flows import figures
from flows.questions import Question, Topic, question_in

TODAY = date(2026, 11, 24)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("/home", Question(Topic.HOME)),
        ("ホーム", Question(Topic.HOME)),
        ("/statement", Question(Topic.STATEMENT)),
        ("明細", Question(Topic.STATEMENT)),
        ("/statement 2026-10", Question(Topic.STATEMENT, "2026-10")),
        ("/statement@NetAnswerBot 2026/9", Question(Topic.STATEMENT, "2026-09")),
        ("10月の明細", Question(Topic.STATEMENT, "2026-10")),
        ("１０月の明細を見せて", Question(Topic.STATEMENT, "2026-10")),
        ("12月の明細", Question(Topic.STATEMENT, "2025-12")),  # the latest December
        ("先月の明細", Question(Topic.STATEMENT, "2026-10")),
        ("今月のお支払い明細", Question(Topic.STATEMENT, "2026-11")),
        ("October statement", Question(Topic.STATEMENT, "2026-10")),
        ("statement for sep 2025", Question(Topic.STATEMENT, "2025-09")),
        ("last month's statement", Question(Topic.STATEMENT, "2026-10")),
        ("/points", Question(Topic.POINTS)),
        ("ポイントいくら？", Question(Topic.POINTS)),
        ("/payment", Question(Topic.PAYMENT)),
        ("支払日はいつ？", Question(Topic.PAYMENT)),
        ("お支払金額", Question(Topic.PAYMENT)),
        ("When do I pay?", Question(Topic.PAYMENT)),
        ("/limit", Question(Topic.LIMIT)),
        ("利用可能額", Question(Topic.LIMIT)),
        ("可能枠は？", Question(Topic.LIMIT)),
        ("/menu", Question(Topic.MENU)),
        ("メニュー", Question(Topic.MENU)),
        ("/graph", Question(Topic.GRAPH)),
        ("/graph@NetAnswerBot", Question(Topic.GRAPH)),
        ("利用グラフ", Question(Topic.GRAPH)),
        ("グラフ", Question(Topic.GRAPH)),
        ("ｸﾞﾗﾌ", Question(Topic.GRAPH)),  # half-width katakana, folded
        ("明細のグラフを見せて", Question(Topic.GRAPH)),
        ("graph", Question(Topic.GRAPH)),
        ("Usage graph", Question(Topic.GRAPH)),
    ],
)
def test_questions_are_understood(typed: str, expected: Question) -> None:
    assert question_in(typed, TODAY) == expected


@pytest.mark.parametrize("typed", ["こんにちは", "hello", "", "   ", "4980 0012 3456 7000"])
def test_anything_else_is_no_question(typed: str) -> None:
    assert question_in(typed, TODAY) is None


def test_figures_are_written_the_way_each_language_writes_them() -> None:
    assert figures.yen(56789, "ja") == "56,789円"
    assert figures.yen(56789, "en") == "¥56,789"
    assert figures.points(1234, "ja") == "1,234ポイント"
    assert (figures.points(1, "en"), figures.points(2, "en")) == ("1 point", "2 points")
    assert figures.day("2026-12-04", "ja") == "2026年12月4日"
    assert figures.day("2026-12-04", "en") == "4 Dec 2026"
    assert (figures.month("2026-10", "ja"), figures.month("2026-10", "en")) == (
        "2026年10月",
        "October 2026",
    )
