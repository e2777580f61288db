"""Which transitions of the flows' graphs the recorded conversations went through.

A recorded turn is a move from its state before to its state after within the flow
that answered it (a turn that stays where it was moves nowhere). A move into another
flow's start counts as the transition into the exit state that hands over to it.
Transitions between the same two states (``code -> password`` on ``verified`` and on
``weak``) cannot be told apart from the record and share one count.
"""

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.handlers import Flows
from flows.flow import Flow
from storage import transcripts as rows
from storage.database import Database, aware
from storage.models import TranscriptEntry

Move = tuple[str, str, str]  # flow, state before, state after
_CLASS_LINE = re.compile(r"^(\s*)Class (\S+) s_\w+$")
_EDGE_LINE = re.compile(r"^(\s*)(\S+) --> (\S+): (.*)$")


@dataclass(frozen=True)
class Transition:
    source: str
    dest: str
    trigger: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.dest} ({self.trigger})"


@dataclass(frozen=True)
class FlowCoverage:
    flow: str
    taken: list[tuple[Transition, int]]  # in the graph's order, with how often
    untaken: list[Transition]
    other: list[tuple[str, str, int]]  # moves the graph does not draw: /cancel, /start

    def as_json(self) -> dict[str, Any]:
        def edge(transition: Transition) -> dict[str, str]:
            return {
                "source": transition.source,
                "dest": transition.dest,
                "trigger": transition.trigger,
            }

        return {
            "flow": self.flow,
            "taken": [{**edge(t), "count": count} for t, count in self.taken],
            "untaken": [edge(t) for t in self.untaken],
            "other": [{"source": s, "dest": d, "count": count} for s, d, count in self.other],
        }


def transitions(flow: Flow) -> list[Transition]:
    """The flow's drawn transitions, one per source state."""
    states = [str(state) for state in flow.steps]
    found = []
    for transition in flow.transitions:
        sources = transition["source"]
        if sources == "*":
            sources = states
        for source in [sources] if isinstance(sources, str) else sources:
            found.append(
                Transition(str(source), str(transition["dest"]), str(transition["trigger"]))
            )
    return found


def moves(entries: Iterable[TranscriptEntry], flows: Flows) -> Counter[Move]:
    """How often each recorded turn moved from one state to another, per flow."""
    counted: Counter[Move] = Counter()
    names = {flow.name for flow in flows}
    for row in entries:
        if row.direction != "in" or row.flow not in names or not row.state_before:
            continue
        after = row.state_after
        if after is None or after == row.state_before:
            continue
        counted[(row.flow, row.state_before, _within(flows[row.flow].flow, after, flows))] += 1
    return counted


def _within(flow: Flow, state: str, flows: Flows) -> str:
    """``state`` as the flow names it: another flow's start is the exit that leads there."""
    if state in flow.steps:
        return state
    for exit_state, target in flow.exits.items():
        if flows[target].flow.start == state:
            return str(exit_state)
    return state


def coverage(flows: Flows, counted: Counter[Move]) -> list[FlowCoverage]:
    found = []
    for flow in flows:
        drawn = transitions(flow)
        pairs = {(t.source, t.dest) for t in drawn}
        taken = [(t, counted[(flow.name, t.source, t.dest)]) for t in drawn]
        other = sorted(
            (before, after, count)
            for (name, before, after), count in counted.items()
            if name == flow.name and (before, after) not in pairs
        )
        found.append(
            FlowCoverage(
                flow=flow.name,
                taken=[(t, count) for t, count in taken if count],
                untaken=[t for t, count in taken if not count],
                other=other,
            )
        )
    return found


async def recorded_moves(
    database: Database, flows: Flows, *, since: datetime | None = None
) -> Counter[Move]:
    """The moves of every stored conversation, of turns at or after ``since``."""
    counted: Counter[Move] = Counter()
    async with database.transaction() as session:
        for summary in await rows.summaries(session, since=since):
            entries = await rows.entries(session, summary.id)
            counted += moves((e for e in entries if since is None or aware(e.at) >= since), flows)
    return counted


async def conversation(database: Database, conversation_id: int) -> list[TranscriptEntry]:
    async with database.transaction() as session:
        return await rows.entries(session, conversation_id)


def highlighted(flow: Flow, entries: Sequence[TranscriptEntry], flows: Flows) -> str:
    """The flow's Mermaid graph with the states the conversation was in (class
    ``s_visited``, its last one ``s_active``) and the transitions it took (``×N``)."""
    counted = moves(entries, flows)
    taken = Counter({(b, a): n for (name, b, a), n in counted.items() if name == flow.name})
    visited = {b for b, _ in taken} | {a for _, a in taken}
    visited |= {row.state_before for row in entries if row.flow == flow.name and row.state_before}
    last = next(
        (
            _within(flow, row.state_after, flows)
            for row in reversed(entries)
            if row.flow == flow.name and row.state_after
        ),
        None,
    )
    lines = []
    for line in flow.mermaid().splitlines():
        if line.strip().startswith("classDef s_previous"):
            indent = line[: len(line) - len(line.lstrip())]
            lines += [line, f"{indent}classDef s_visited color:black,fill:palegreen"]
            continue
        state = _CLASS_LINE.match(line)
        edge = _EDGE_LINE.match(line)
        if state:
            name = state[2]
            style = "s_active" if name == last else "s_visited" if name in visited else "s_default"
            lines.append(f"{state[1]}Class {name} {style}")
        elif edge and taken[(edge[2], edge[3])]:
            lines.append(f"{line} ×{taken[(edge[2], edge[3])]}")
        else:
            lines.append(line)
    return "\n".join(lines)
