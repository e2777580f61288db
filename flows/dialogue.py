"""The model a flow's graph drives: the state and the slots of one conversation.

A fresh Dialogue is built from the database for every message and thrown away after it.
A flow whose graph asks conditions subclasses it.
"""

from typing import Any


class Dialogue:
    def __init__(self, state: str, slots: dict[str, Any]) -> None:
        self.state = state
        self.slots = slots

    # Callbacks every graph may run.
    def wipe(self) -> None:
        self.slots.clear()
