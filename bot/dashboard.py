"""The support console's dashboard: what became of the conversations started each day,
where members abandon, which passcode paths they take, and lockouts; as figures (the
page's tables) and as charts (PNG, drawn by matplotlib's Agg renderer).

Everything is counted from the stored records, over the last :data:`DAYS` days in
Japan time (``?days=N`` up to :data:`MAX_DAYS`):

- each conversation counts once, on the day its first recorded turn was, under its
  outcome (``bot/transcripts.py``: completed, abandoned, locked, cancelled, in progress);
- an abandoned one counts under the state its last recorded turn left it in;
- passcode paths count each use: a passcode sent by SMS, a re-issue by SMS, a passcode
  by mail (first or re-issued), a switch to the card PIN, a landline member sent to the
  toll-free call;
- lockouts: the conversations that ended locked (5 wrong passcodes or PINs, 5 failed
  card checks), per day; and the subjects locked out now (``lockouts`` table), by kind.
"""

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot import charts, transcripts
from bot.handlers import Flows
from storage import lockouts
from storage import transcripts as rows
from storage.database import Database

DAYS = 14
MAX_DAYS = 90
OUTCOMES = (
    transcripts.Outcome.COMPLETED,
    transcripts.Outcome.ABANDONED,
    transcripts.Outcome.LOCKED,
    transcripts.Outcome.CANCELLED,
    transcripts.Outcome.IN_PROGRESS,
)
PATHS = ("SMS", "re-issue by SMS", "mail", "card PIN", "toll-free call")
#: What each kind of lockout subject (its prefix) locks.
LOCK_KINDS = {
    "identity": "passcode / PIN (card)",
    "guess": "card checks",
    "signin": "member sign-in",
    "support": "agent sign-in",
}
#: The charts by name, with their titles (each image's alt text too).
CHARTS = {
    "daily": "Conversations started per day, by outcome",
    "abandoned": "Abandoned conversations by the state they were left in",
    "paths": "Passcode paths used",
    "lockouts": "Conversations started per day that ended locked",
}
_RESENT, _SENT_BY_MAIL = "otp.resent", "otp.sent"  # the latter only after a call
_MAIL = {"phrase": "value.via.mail"}
# The states of both flows (enrollment, sign-in) where a passcode, the PIN or the
# call is asked for. Moving into a passcode state sends one by SMS, except coming back
# from the PIN (the same passcode stands) or from the call (by mail: its reply counts).
_OTP = ("otp", "signin_otp")
_PIN = ("pin", "signin_pin")
_CALL = ("call",)
_COLOURS = {
    transcripts.Outcome.COMPLETED: "#1a9850",
    transcripts.Outcome.ABANDONED: "#d73027",
    transcripts.Outcome.LOCKED: "#542788",
    transcripts.Outcome.CANCELLED: "#999999",
    transcripts.Outcome.IN_PROGRESS: "#4575b4",
}
_INCHES = (8.0, 3.6)
_DPI = 100


@dataclass(frozen=True)
class Day:
    day: date
    started: int
    outcomes: dict[transcripts.Outcome, int]


@dataclass(frozen=True)
class Dashboard:
    first: date
    last: date
    days: list[Day]  # oldest first, every day of the period
    abandoned_at: list[tuple[str, int]]  # most first
    paths: list[tuple[str, int]]  # in the order of PATHS
    locked_now: list[tuple[str, int]]  # in the order of LOCK_KINDS, then others

    @property
    def started(self) -> int:
        return sum(day.started for day in self.days)

    def total(self, outcome: transcripts.Outcome) -> int:
        return sum(day.outcomes[outcome] for day in self.days)


async def figures(database: Database, flows: Flows, now: datetime, days: int = DAYS) -> Dashboard:
    """The dashboard of the ``days`` days ending today (Japan time)."""
    last = now.astimezone(transcripts.JAPAN).date()
    first = last - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=transcripts.JAPAN)
    listed = [
        found
        for found in await transcripts.listing(database, flows, now, since=since)
        if found.started >= since
    ]
    async with database.transaction() as session:
        marked = await rows.marked(
            session, since=since, keys=(_SENT_BY_MAIL, _RESENT), states=(*_OTP, *_PIN, *_CALL)
        )
        locked = await lockouts.locked(session, now)
    by_day: dict[date, Counter[transcripts.Outcome]] = {}
    for found in listed:
        by_day.setdefault(_day(found.started), Counter())[found.outcome] += 1
    period = [first + timedelta(days=n) for n in range(days)]
    abandoned = Counter(
        found.last_state for found in listed if found.outcome is transcripts.Outcome.ABANDONED
    )
    return Dashboard(
        first=first,
        last=last,
        days=[
            Day(
                day,
                started=sum(by_day.get(day, Counter()).values()),
                outcomes={outcome: by_day.get(day, Counter())[outcome] for outcome in OUTCOMES},
            )
            for day in period
        ],
        abandoned_at=sorted(abandoned.items(), key=lambda item: (-item[1], item[0])),
        paths=_paths(marked),
        locked_now=_kinds(locked),
    )


def _day(moment: datetime) -> date:
    return moment.astimezone(transcripts.JAPAN).date()


def _paths(marked: Sequence[rows.Marked]) -> list[tuple[str, int]]:
    counted: Counter[str] = Counter()
    for row in marked:
        if row.key is not None:
            counted["mail" if row.params.get("via") == _MAIL else "re-issue by SMS"] += 1
        elif row.state_after in _PIN:
            counted["card PIN"] += 1
        elif row.state_after in _CALL:
            counted["toll-free call"] += 1
        elif row.state_before not in (*_PIN, *_CALL):
            counted["SMS"] += 1
    return [(path, counted[path]) for path in PATHS]


def _kinds(subjects: Sequence[str]) -> list[tuple[str, int]]:
    counted = Counter(LOCK_KINDS.get(subject.split(":", 1)[0], "other") for subject in subjects)
    return [(kind, counted[kind]) for kind in (*LOCK_KINDS.values(), "other") if counted[kind]]


def png(dashboard: Dashboard, name: str) -> bytes:
    """One of :data:`CHARTS` as PNG bytes."""
    if name not in CHARTS:
        raise ValueError(f"no chart named {name!r}")
    drawn = Figure(figsize=_INCHES, layout="constrained")
    FigureCanvasAgg(drawn)
    axes = drawn.add_subplot()
    days = [day.day.strftime("%m-%d") for day in dashboard.days]
    if name == "daily":
        bottom = [0] * len(days)
        for outcome in OUTCOMES:
            counts = [day.outcomes[outcome] for day in dashboard.days]
            axes.bar(days, counts, bottom=bottom, label=outcome.value, color=_COLOURS[outcome])
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        axes.legend(loc="upper left", fontsize="small", ncols=len(OUTCOMES))
        top = max(bottom) * 1.3  # room for the legend
    elif name == "abandoned":
        states = [state for state, _ in dashboard.abandoned_at] or ["(none)"]
        counts = [count for _, count in dashboard.abandoned_at] or [0]
        axes.barh(states[::-1], counts[::-1], color=_COLOURS[transcripts.Outcome.ABANDONED])
        top = max(counts)
    elif name == "paths":
        axes.bar([path for path, _ in dashboard.paths], [n for _, n in dashboard.paths])
        top = max(n for _, n in dashboard.paths)
    else:  # lockouts
        counts = [day.outcomes[transcripts.Outcome.LOCKED] for day in dashboard.days]
        axes.bar(days, counts, color=_COLOURS[transcripts.Outcome.LOCKED])
        top = max(counts)
    # Counts start at 0, and an empty chart still reads 0 to 1.
    if name == "abandoned":
        axes.set_xlim(0, max(top, 1) * 1.1)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        axes.set_ylim(0, max(top, 1) * 1.1)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(CHARTS[name])
    axes.tick_params(axis="x", labelrotation=45 if name in ("daily", "lockouts") else 0)
    axes.spines[["top", "right"]].set_visible(False)
    buffer = io.BytesIO()
    with charts.DRAWING:
        drawn.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()
