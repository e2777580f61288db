"""The model the enrollment graph drives: the state and the slots of one conversation.

A fresh Dialogue is built from the database for every message and thrown away after it.
"""

from typing import Any


class Dialogue:
    def __init__(self, state: str, slots: dict[str, Any]) -> None:
        self.state = state
        self.slots = slots

    # Conditions the graph asks.
    def fixing(self) -> bool:
        """Returning to the confirmation after changing one field."""
        return bool(self.slots.get("fixing"))

    def has_password(self) -> bool:
        return "password_hash" in self.slots

    def has_emails(self) -> bool:
        return bool(self.slots.get("emails"))

    # Callbacks the graph runs.
    def wipe(self) -> None:
        self.slots.clear()

    def stop_fixing(self) -> None:
        self.slots.pop("fixing", None)
