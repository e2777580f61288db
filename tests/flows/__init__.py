"""Tests of the pure validators in flows/."""

import pytest

from flows.problems import Invalid


def keys(exc_info: pytest.ExceptionInfo[Invalid]) -> list[str]:
    """The problem keys an Invalid carried, in order."""
    return [problem.key for problem in exc_info.value.problems]
