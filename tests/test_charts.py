"""The usage chart as a member sees it: a PNG, one bar per month at the month's total,
labelled in the member's language, and never a font warning on anyone's terminal."""

import logging
import struct
import warnings
from collections.abc import Iterator

import pytest
from matplotlib import font_manager
from matplotlib.patches import Rectangle

from bot import charts
from flows.replies import Chart

CHART = Chart(
    (
        ("2025-11", 0),
        ("2025-12", 0),
        ("2026-01", 48_210),
        ("2026-02", 91_230),
        ("2026-03", 12_000),
        ("2026-04", 77_770),
    ),
    "member.graph.alt",
)


@pytest.fixture
def no_japanese_font(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine without any Japanese font (a fresh server before its fonts package)."""
    monkeypatch.setattr(charts, "japanese_font", lambda: None)
    yield


def _size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _bars(chart: Chart, lang: str) -> list[float]:
    axes = charts.figure(chart, lang).axes[0]
    return [patch.get_height() for patch in axes.patches if isinstance(patch, Rectangle)]


def _texts(chart: Chart, lang: str) -> tuple[str, list[str], list[str]]:
    """The title, the month under each bar and the figure over each bar."""
    axes = charts.figure(chart, lang).axes[0]
    months = [label.get_text() for label in axes.get_xticklabels()]
    over = [text.get_text() for text in axes.texts]
    return axes.get_title(), months, over


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_one_bar_per_month_at_its_total(lang: str) -> None:
    assert _bars(CHART, lang) == [amount for _, amount in CHART.bars]
    png = charts.png(CHART, lang)
    assert _size(png) == (800, 450)


def test_labels_in_japanese() -> None:
    assert charts.japanese_font() is not None, "install fonts-ipafont-gothic (see README)"
    title, months, over = _texts(CHART, "ja")
    assert title == "ご利用金額（2025年11月〜2026年4月）"
    assert months == ["2025年\n11月", "12月", "2026年\n1月", "2月", "3月", "4月"]
    assert over == ["0円", "0円", "48,210円", "91,230円", "12,000円", "77,770円"]


def test_labels_in_english() -> None:
    title, months, over = _texts(CHART, "en")
    assert title == "Spending, November 2025 – April 2026"
    assert months == ["Nov\n2025", "Dec", "Jan\n2026", "Feb", "Mar", "Apr"]
    assert over == ["¥0", "¥0", "¥48,210", "¥91,230", "¥12,000", "¥77,770"]


@pytest.mark.usefixtures("no_japanese_font")
def test_without_a_japanese_font_a_japanese_chart_uses_figures_only() -> None:
    title, months, over = _texts(CHART, "ja")
    assert title == "2025-11 – 2026-04"
    assert months == [year_month for year_month, _ in CHART.bars]
    assert over[2] == "¥48,210"


@pytest.mark.parametrize("font", ["installed", "missing"])
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_drawing_warns_about_nothing(
    lang: str, font: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if font == "missing":
        monkeypatch.setattr(charts, "japanese_font", lambda: None)
    caplog.set_level(logging.DEBUG, logger="matplotlib")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph is a UserWarning
        png = charts.png(CHART, lang)
    assert _size(png) == (800, 450)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not [r for r in caplog.records if "findfont: Font family" in r.getMessage()]


def test_a_chart_of_zeros_still_reads_in_yen() -> None:
    zeros = Chart(tuple((year_month, 0) for year_month, _ in CHART.bars), "member.graph.alt")
    assert _bars(zeros, "en") == [0] * 6
    axes = charts.figure(zeros, "en").axes[0]
    assert axes.get_ylim()[0] == 0 and axes.get_ylim()[1] >= 1000


def test_a_japanese_font_installed_after_matplotlib_listed_the_fonts_is_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fonts = font_manager.fontManager
    listed = [entry for entry in fonts.ttflist if entry.name not in charts.JAPANESE_FONTS]
    monkeypatch.setattr(fonts, "ttflist", listed)  # matplotlib's list from before
    charts.japanese_font.cache_clear()
    try:
        assert charts.japanese_font() in charts.JAPANESE_FONTS
    finally:
        charts.japanese_font.cache_clear()
