"""A flow together with the handlers of its steps, and the set of flows the engine runs.

A handler acts on one answer at one step: it validates it with the flow's validators,
talks to the outside world where needed, keeps what may be kept, and returns the graph
event to fire, or None to stay and ask again.
"""

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass

from bot.turn import Turn
from flows.flow import Flow

Handler = Callable[[Turn, str], Awaitable[str | None]]
Entry = Callable[[Turn], Awaitable[None]]
Linker = Callable[[Turn, str | None], Awaitable[None]]


@dataclass(frozen=True)
class Handlers:
    flow: Flow
    by_state: Mapping[str, Handler]
    #: Run when a conversation is handed to this flow from another (e.g. to load what
    #: its questions show).
    enter: Entry | None = None
    #: Run on the platform's account-link event (LINE's ``accountLink``) with its
    #: nonce, whatever flow the conversation is in: it may move the conversation to
    #: a state of this flow that hands it over.
    linked: Linker | None = None

    def __post_init__(self) -> None:
        if set(self.by_state) != set(self.flow.steps):
            unmatched = set(self.by_state) ^ set(self.flow.steps)
            raise ValueError(f"flow {self.flow.name}: handlers and steps differ: {unmatched}")

    def __getitem__(self, state: str) -> Handler:
        return self.by_state[state]


class Flows:
    """The flows of the application; a new conversation starts in ``entry``. When the
    entry flow ends (cancelled, declined) for a chat already linked to a member, the
    conversation goes back to the ``linked`` flow instead of staying closed."""

    def __init__(self, entry: Handlers, *others: Handlers, linked: str | None = None) -> None:
        self.entry = entry.flow
        self._units = {unit.flow.name: unit for unit in (entry, *others)}
        self.linked = self._units[linked] if linked is not None else None
        #: The flow that checks the platform's account-link events, if any.
        self.linking = next((unit for unit in self._units.values() if unit.linked), None)
        for unit in self._units.values():
            for target in unit.flow.exits.values():
                if target not in self._units:
                    raise ValueError(f"flow {unit.flow.name} hands over to unknown {target}")

    def __getitem__(self, name: str) -> Handlers:
        return self._units[name]

    def __iter__(self) -> Iterator[Flow]:
        return (unit.flow for unit in self._units.values())
