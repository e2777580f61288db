"""Amounts, points and dates written the way each language writes them: 56,789円 and
2026年12月4日 in Japanese, ¥56,789 and 4 Dec 2026 in English.

Replies carry figures as typed parameters (:func:`flows.replies.yen` and the others),
so they are written in the member's language when the reply is rendered.
"""

from datetime import date

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def yen(amount: int, lang: str) -> str:
    return f"{amount:,}円" if lang == "ja" else f"¥{amount:,}"


def points(count: int, lang: str) -> str:
    if lang == "ja":
        return f"{count:,}ポイント"
    return f"{count:,} point" if count == 1 else f"{count:,} points"


def day(iso: str, lang: str) -> str:
    moment = date.fromisoformat(iso)
    if lang == "ja":
        return f"{moment.year}年{moment.month}月{moment.day}日"
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def month(year_month: str, lang: str) -> str:
    """``"2026-10"`` as 2026年10月 or October 2026."""
    year, number = (int(part) for part in year_month.split("-"))
    if lang == "ja":
        return f"{year}年{number}月"
    return f"{_MONTH_NAMES[number - 1]} {year}"


def month_tick(year_month: str, lang: str, *, with_year: bool) -> str:
    """A month under a chart's bar: 5月 or May, with the year on a line of its own
    when asked (2026年 over 5月, May over 2026)."""
    year, number = (int(part) for part in year_month.split("-"))
    if lang == "ja":
        return f"{year}年\n{number}月" if with_year else f"{number}月"
    name = _MONTHS[number - 1]
    return f"{name}\n{year}" if with_year else name


def month_named(name: str) -> int | None:
    """The month number of an English month name or its abbreviation."""
    lowered = name.lower()
    for number, full in enumerate(_MONTH_NAMES, 1):
        if lowered in (full.lower(), full[:3].lower()):
            return number
    return None
