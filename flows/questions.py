"""What a linked member asks, from a command, a keyword or a short question, in
Japanese or English: the statement (of a month), points, the next payment, the credit
left, the usage graph, the home summary or the menu; or a request: apply points to the
bill, add the card to a wallet, change the language, unlink this chat."""

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from flows.figures import month_named
from flows.text import fold


class Topic(StrEnum):
    HOME = "home"
    STATEMENT = "statement"
    POINTS = "points"
    PAYMENT = "payment"
    LIMIT = "limit"
    MENU = "menu"
    APPLY = "apply"
    WALLET = "wallet"
    LANGUAGE = "language"
    UNLINK = "unlink"
    GRAPH = "graph"


@dataclass(frozen=True)
class Question:
    topic: Topic
    month: str | None = None  # "YYYY-MM" of a statement asked for by month


# Checked in this order: a statement question often names a payment word too, and
# applying points names both points and the bill.
_WORDS: tuple[tuple[Topic, tuple[str, ...]], ...] = (
    (Topic.GRAPH, ("グラフ", "graph", "chart")),  # 「明細のグラフ」 asks for the graph
    (Topic.UNLINK, ("連携解除", "連携を解除", "unlink")),
    (Topic.LANGUAGE, ("言語", "language", "english", "日本語", "japanese")),
    (Topic.APPLY, ("充当", "apply points", "use points", "ポイントを使")),
    (Topic.WALLET, ("ウォレット", "wallet", "apple pay", "google pay")),
    (Topic.STATEMENT, ("明細", "statement", "利用履歴", "使った")),
    (Topic.POINTS, ("ポイント", "point", "永久不滅")),
    (Topic.LIMIT, ("利用可能額", "可能枠", "限度額", "利用枠", "limit", "available", "credit")),
    (
        Topic.PAYMENT,
        ("支払", "払い", "請求", "引き落とし", "引落", "payment", "pay", "due", "bill"),
    ),
    (Topic.HOME, ("ホーム", "home", "概要", "summary")),
    (Topic.MENU, ("メニュー", "menu", "できること", "what can")),
)
_COMMANDS = {f"/{topic.value}": topic for topic in Topic}
_ISO_MONTH = re.compile(r"(\d{4})\s*[-/年.]\s*(\d{1,2})")
_JA_MONTH = re.compile(r"(\d{1,2})\s*月")
_EN_MONTH = re.compile(r"\b([a-z]{3,9})\b(?:\s+(\d{4}))?")


def question_in(text: str, today: date) -> Question | None:
    """The question a message asks, if it asks one this bot answers."""
    folded = fold(text).casefold()
    first = folded.split(maxsplit=1)[0].split("@", 1)[0] if folded else ""
    topic = _COMMANDS.get(first) or next(
        (topic for topic, words in _WORDS if any(word in folded for word in words)), None
    )
    if topic is None:
        return None
    return Question(topic, _month_in(folded, today) if topic is Topic.STATEMENT else None)


def _month_in(text: str, today: date) -> str | None:
    if found := _ISO_MONTH.search(text):
        year, number = int(found[1]), int(found[2])
        return f"{year:04d}-{number:02d}" if 1 <= number <= 12 else None
    if "先月" in text or "last month" in text:
        return _shift(today, -1)
    if "今月" in text or "this month" in text:
        return _shift(today, 0)
    if found := _JA_MONTH.search(text):
        return _latest(int(found[1]), today)
    for word, year in _EN_MONTH.findall(text):
        named = month_named(word)
        if named is not None:
            return f"{int(year):04d}-{named:02d}" if year else _latest(named, today)
    return None


def _shift(today: date, months: int) -> str:
    index = today.year * 12 + today.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _latest(number: int, today: date) -> str | None:
    """The most recent month with that number, this month included."""
    if not 1 <= number <= 12:
        return None
    year = today.year if number <= today.month else today.year - 1
    return f"{year:04d}-{number:02d}"
