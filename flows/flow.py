"""A conversation flow as data: its steps, the graph between them, and its rules.

A flow declares each state once (the question asked on arriving, its help, the buttons
offered, what kind of secret the member types there, the values the question shows),
its transitions, which states an unfinished conversation may be cancelled or wiped
from, and where it hands the conversation on to another flow. The graph is built once
per process and triggered on a fresh :class:`~flows.dialogue.Dialogue` per message.
"""

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any, get_type_hints

from transitions import Machine, State

from flows.dialogue import Dialogue
from flows.messages import CATALOG
from flows.replies import Choice, Param

Params = Mapping[str, Param]

#: Graph events every flow has: the engine's /cancel and /start.
CANCEL = "cancel"
RESTART = "restart"


class Secret(StrEnum):
    """What a member types at a step that must never be stored or shown as typed."""

    CARD = "card"
    CODE = "code"
    PASSWORD = "password"  # noqa: S105 (a kind of secret, not one)
    PASSCODE = "passcode"
    PIN = "pin"


class Field(StrEnum):
    """What the secure-entry page takes: each answered as if typed at its own step."""

    CARD = "card"
    EXPIRY = "expiry"
    CODE = "code"
    PASSWORD = "password"  # noqa: S105 (a field name)
    REPEAT = "repeat"  # the password again
    PIN = "pin"


def _no_params(slots: Mapping[str, Any]) -> Params:
    return {}


def _nothing_hidden(slots: Mapping[str, Any]) -> Collection[str]:
    return ()


def _no_links(slots: Mapping[str, Any]) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class Step:
    prompt: str  # message key of the question asked on arriving
    help: str  # message key of /help at this step
    choices: tuple[Choice, ...] = ()
    free_text: bool = True  # False: only the offered choices are understood
    secret: Secret | None = None
    #: The values the question shows, from display-safe slots only.
    params: Callable[[Mapping[str, Any]], Params] = _no_params
    #: The data of the buttons not on offer now (a re-issue past its limit, say).
    hidden: Callable[[Mapping[str, Any]], Collection[str]] = _nothing_hidden
    #: Said once, before this question, where the channel keeps the member's messages.
    history_notice: str | None = None
    on_enter: tuple[str, ...] = ()  # Dialogue methods run on arriving
    #: The pages some buttons open now, by the buttons' data, from display-safe slots.
    links: Callable[[Mapping[str, Any]], Mapping[str, str]] = _no_links
    #: What the secure-entry page asks at this step, in order: the first answers this
    #: step, each next one the step the flow then asks for it (the card page takes the
    #: expiry and the code too). Empty: the page is not offered here.
    entry: tuple[Field, ...] = ()

    def offered(self, slots: Mapping[str, Any]) -> tuple[Choice, ...]:
        """The buttons shown now (every one of ``choices`` is still understood)."""
        hidden, pages = self.hidden(slots), self.links(slots)
        return tuple(
            replace(choice, url=pages[choice.data]) if choice.data in pages else choice
            for choice in self.choices
            if choice.data not in hidden
        )


@dataclass(frozen=True)
class Flow:
    name: str
    title: str  # the graph's heading
    steps: Mapping[str, Step]
    transitions: Iterable[Mapping[str, Any]]
    start: str
    dialogue: type[Dialogue]  # the model the graph drives, with the flow's conditions
    slots: type  # a TypedDict: every slot the flow may keep, and its type
    #: States of an unfinished conversation: /cancel ends it in ``closed``, and after
    #: ``idle_limit`` without a message what it holds is wiped.
    unfinished: frozenset[str] = frozenset()
    closed: str | None = None
    idle_limit: timedelta | None = None
    #: States that end this flow and the flow that takes the conversation on.
    exits: Mapping[str, str] = field(default_factory=dict)
    machine: Machine = field(init=False, repr=False, compare=False)
    #: The names of ``slots``, read once: every turn checks what it keeps against them.
    slot_names: frozenset[str] = field(init=False, repr=False, compare=False)
    #: A short hash of what the flow declares (:meth:`_declared`), read once: each
    #: transcript row names the version of the flow that answered it.
    version: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = set(self.unfinished) - set(self.steps)
        if missing or (self.closed is not None and self.closed not in self.steps):
            raise ValueError(f"flow {self.name}: unknown states {sorted(missing)}")
        machine = Machine(
            model=None,
            states=self._states(),
            transitions=self._all_transitions(),
            initial=str(self.start),
            auto_transitions=False,
        )
        object.__setattr__(self, "machine", machine)
        object.__setattr__(self, "slot_names", frozenset(get_type_hints(self.slots)))
        declared = json.dumps(self._declared(), ensure_ascii=False, sort_keys=True)
        object.__setattr__(self, "version", hashlib.sha256(declared.encode()).hexdigest()[:12])

    def model(self, state: str, slots: dict[str, Any]) -> Dialogue:
        return self.dialogue(state, slots)

    def trigger(self, event: str, dialogue: Dialogue) -> None:
        self.machine.events[event].trigger(dialogue)

    def ended(self, state: str) -> bool:
        """Whether ``state`` ends the conversation: the closed state, unless /cancel
        only goes back to the start (the member flow's home)."""
        return state == self.closed and self.closed != self.start

    def cancel(self, dialogue: Dialogue) -> bool:
        """End an unfinished conversation (its slots are wiped on the way); False when
        there is nothing to cancel here."""
        if dialogue.state not in self.unfinished:
            return False
        self.trigger(CANCEL, dialogue)
        return True

    def mermaid(self) -> str:
        """The graph as a Mermaid state diagram, drawn from the same definition. The
        /cancel and /start edges, which leave every state, are left out for legibility."""
        from transitions.extensions import GraphMachine

        class _Model:
            pass

        drawing = GraphMachine(
            model=_Model(),
            states=self._states(),
            transitions=self._plain_transitions(),
            initial=str(self.start),
            auto_transitions=False,
            show_conditions=True,
            graph_engine="mermaid",
            title=self.title,
        )
        return str(drawing.get_graph().draw(None))

    def _declared(self) -> dict[str, Any]:
        """Steps, graph, rules and the catalog entries the steps use, in every language:
        a change to any of them is a new version."""
        keys: set[str] = set()
        steps = {}
        for name, step in self.steps.items():
            used = [step.prompt, step.help, *(choice.label for choice in step.choices)]
            used += [step.history_notice] if step.history_notice else []
            keys.update(used)
            steps[str(name)] = {
                "prompt": step.prompt,
                "help": step.help,
                "choices": [[choice.data, choice.label] for choice in step.choices],
                "free_text": step.free_text,
                "secret": step.secret,
                "history_notice": step.history_notice,
                "on_enter": list(step.on_enter),
                "entry": [str(field) for field in step.entry],
            }
        return {
            "name": self.name,
            "start": str(self.start),
            "steps": steps,
            "transitions": self._plain_transitions(),
            "unfinished": sorted(str(state) for state in self.unfinished),
            "closed": self.closed,
            "idle_limit": self.idle_limit.total_seconds() if self.idle_limit else None,
            "exits": {str(state): target for state, target in self.exits.items()},
            "messages": {
                lang: {key: catalog.get(key) for key in sorted(keys)}
                for lang, catalog in CATALOG.items()
            },
        }

    def _states(self) -> list[State]:
        names = [*self.steps, *(name for name in self.exits if name not in self.steps)]
        states = []
        for name in names:
            step = self.steps.get(name)
            on_enter: list[str | Callable[..., bool | None]] = list(step.on_enter if step else ())
            states.append(State(str(name), on_enter=on_enter or None))
        return states

    def _plain_transitions(self) -> list[dict[str, Any]]:
        return [_plain(transition) for transition in self.transitions]

    def _all_transitions(self) -> list[dict[str, Any]]:
        everywhere: list[dict[str, Any]] = [
            {"trigger": RESTART, "source": "*", "dest": str(self.start), "before": "wipe"}
        ]
        if self.unfinished and self.closed is not None:
            source = sorted(str(state) for state in self.unfinished)
            everywhere.append({"trigger": CANCEL, "source": source, "dest": str(self.closed)})
        return [*self._plain_transitions(), *everywhere]


def _plain(transition: Mapping[str, Any]) -> dict[str, Any]:
    """States and events as plain strings: given enums, transitions would name the
    states by the members' Python names instead of their values."""

    def plain(value: Any) -> Any:
        if isinstance(value, StrEnum):
            return str(value)
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        return value

    return {key: plain(value) for key, value in transition.items()}
