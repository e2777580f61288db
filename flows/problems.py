"""What a validator says when input breaks a rule.

A problem names a message key and safe parameters; it never carries the
member's input, so a secret typed in the wrong field cannot leak through it.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from flows.replies import Param


@dataclass(frozen=True)
class Problem:
    key: str
    params: Mapping[str, Param] = field(default_factory=dict)


class Invalid(ValueError):
    """Raised by a validator with every rule the input broke."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(", ".join(p.key for p in problems))
        self.problems = problems
