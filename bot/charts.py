"""The usage chart as a PNG: one bar per month, drawn by matplotlib's Agg renderer from
the figures a reply carries (the outbox keeps those figures, never the picture).

Labels are in the member's language. Japanese needs a font with its characters: the
first of :data:`JAPANESE_FONTS` installed is used (Debian's ``fonts-ipaexfont-gothic``
is one). Without any, a Japanese chart is labelled with figures only (2026-05,
¥12,000), which matplotlib's own font has, so no member sees empty boxes and
matplotlib has nothing to warn about.
"""

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache

from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from flows import figures
from flows.messages import text
from flows.replies import Chart

#: Japanese fonts, the first installed one is used for a Japanese chart; matplotlib's
#: own font follows it for what it lacks. Proportional before fixed-width.
JAPANESE_FONTS = (
    "IPAexGothic",
    "IPAPGothic",
    "IPAGothic",
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "Source Han Sans JP",
    "TakaoGothic",
    "VL Gothic",
)
_OWN_FONT = "DejaVu Sans"  # shipped with matplotlib
_INCHES = (8.0, 4.5)
_DPI = 100  # 800 x 450 pixels
_BAR_COLOUR = "#1f5aa6"
_GRID_COLOUR = "#d9d9d9"
_MIN_TOP = 1000  # yen at the top of an all-zero chart, so its axis still reads in yen
# matplotlib is not thread-safe (its settings are global): one drawing at a time.
DRAWING = threading.Lock()


def png(chart: Chart, lang: str) -> bytes:
    """The chart as PNG bytes."""
    buffer = io.BytesIO()
    with DRAWING, _fonts(lang):
        figure(chart, lang).savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def figure(chart: Chart, lang: str) -> Figure:
    """The chart's figure, with an Agg canvas: one bar per month, oldest on the left."""
    written = lang != "ja" or japanese_font() is not None
    months = [year_month for year_month, _ in chart.bars]
    amounts = [amount for _, amount in chart.bars]
    drawn = Figure(figsize=_INCHES, layout="constrained")
    FigureCanvasAgg(drawn)
    axes = drawn.add_subplot()
    bars = axes.bar(range(len(amounts)), amounts, width=0.6, color=_BAR_COLOUR)
    money = "en" if not written else lang  # without a Japanese font: ¥12,000
    axes.bar_label(bars, labels=[figures.yen(amount, money) for amount in amounts], padding=3)
    axes.set_xticks(
        range(len(months)),
        labels=[
            figures.month_tick(year_month, lang, with_year=place == 0 or year_month[5:] == "01")
            if written
            else year_month
            for place, year_month in enumerate(months)
        ],
    )
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: figures.yen(int(value), money)))
    axes.set_ylim(0, max(*amounts, _MIN_TOP) * 1.15)
    axes.grid(axis="y", color=_GRID_COLOUR)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    first, last = months[0], months[-1]
    if written:
        params = {"first": {"month": first}, "last": {"month": last}}
        axes.set_title(text("chart.usage.title", lang, params))
    else:
        axes.set_title(f"{first} – {last}")
    return drawn


@cache
def japanese_font() -> str | None:
    """The first of :data:`JAPANESE_FONTS` installed on this machine. matplotlib lists
    the fonts once and keeps the list: one installed later is looked for again here."""
    fonts = font_manager.fontManager
    found = _first_japanese(fonts)
    if found is None:
        known = {entry.fname for entry in fonts.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                with suppress(Exception):  # a file matplotlib cannot read is no font for us
                    fonts.addfont(path)
        found = _first_japanese(fonts)
    return found


def _first_japanese(fonts: font_manager.FontManager) -> str | None:
    installed = {entry.name for entry in fonts.ttflist}
    return next((name for name in JAPANESE_FONTS if name in installed), None)


@contextmanager
def _fonts(lang: str) -> Iterator[None]:
    found = japanese_font() if lang == "ja" else None
    with rc_context({"font.family": [found, _OWN_FONT] if found else [_OWN_FONT]}):
        yield
