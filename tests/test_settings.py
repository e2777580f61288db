"""Configuration: a bad value stops the bot with one line naming the variable, and a
serving worker does not migrate the schema by itself."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.runtime import start
from storage import schema

_COMMAND = str(Path(sys.executable).parent / "netanswer-bot")


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("NETANSWER_RATE_LIMIT", "abc", "NETANSWER_RATE_LIMIT must be a whole number above 0"),
        ("NETANSWER_RATE_LIMIT", "0", "NETANSWER_RATE_LIMIT must be a whole number above 0"),
        ("NETANSWER_CHECK_FLOOR_MS", "-1", "NETANSWER_CHECK_FLOOR_MS must be a whole number"),
        ("NETANSWER_SANDBOX_NOW", "yesterday", "NETANSWER_SANDBOX_NOW must be an ISO 8601 time"),
        ("NETANSWER_CLUB_ON_URL", "http://x.example", "NETANSWER_CLUB_ON_URL must be an https"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_should_be(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        Settings.from_env({name: value})


def test_the_command_says_it_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "NETANSWER_RATE_LIMIT": "abc",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "NETANSWER_KEY_FILE": str(tmp_path / "keys.json"),
        "XDG_DATA_HOME": str(tmp_path / "data"),  # nothing of this machine's own data
    }
    result = subprocess.run(
        [_COMMAND, "chat", "--json"], env=env, input="", capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "netanswer-bot: NETANSWER_RATE_LIMIT must be a whole number above 0, not 'abc'"
    ]


def test_empty_values_count_as_unset() -> None:
    settings = Settings.from_env({"NETANSWER_RATE_LIMIT": "", "DATABASE_URL": ""})
    assert settings.rate_limit == 20 and settings.database_url.startswith("sqlite:")


async def test_a_worker_that_must_not_migrate_refuses_a_stale_schema(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="db upgrade"):
        start(settings, upgrade=False)
    assert not schema.is_current(settings.database_url)
    schema.upgrade(settings.database_url)
    assert schema.is_current(settings.database_url)
    runtime = start(settings, upgrade=False)  # migrated once, by the release phase: starts
    await runtime.close()
