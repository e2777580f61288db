"""The files the bot keeps are its user's alone: every file it creates (the SQLite
database and the -wal, -shm and -journal files beside it, the key file, the terminal
chat's log and the charts it shows) is 0600, a folder it creates 0700, and at start any
of them that others may read or write is named in a warning (its path and mode, never
its contents)."""

import contextlib
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from bot.config import LOG_FILE, Settings
from storage.database import sqlite_files

FILE_MODE = 0o600
DIR_MODE = 0o700
_OTHERS = 0o077  # any permission for the group or everyone else
IMAGES = "images"

logger = logging.getLogger(__name__)


def create_private(path: Path) -> None:
    """Create an empty file only its owner can read and write, unless it exists.
    An existing file keeps its mode (see :func:`warn_if_loose`)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))


def prepare(settings: Settings) -> None:
    """Before the database is opened: a new SQLite file is created 0600, and SQLite
    gives its -wal, -shm and -journal files the database file's mode. Then a warning
    for each of the bot's files and folders others may read or write."""
    sqlite = sqlite_files(settings.database_url)
    if sqlite and sqlite[0].parent.is_dir():  # else SQLite itself says what is missing
        create_private(sqlite[0])
    warn_if_loose(kept_paths(settings))


def kept_paths(settings: Settings) -> list[Path]:
    """The folder and the files the bot keeps, as far as this configuration uses them."""
    return [
        settings.data_dir,
        settings.key_file,
        settings.data_dir / LOG_FILE,
        images(settings),
        *sqlite_files(settings.database_url),
    ]


def images(settings: Settings) -> Path:
    """Where the terminal chat writes the charts it shows (a member's spending)."""
    return settings.data_dir / IMAGES


def warn_if_loose(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            found = path.stat()
        except OSError:  # not there (yet): whatever the bot creates is private
            continue
        mode = stat.S_IMODE(found.st_mode)
        if mode & _OTHERS:
            wanted = DIR_MODE if stat.S_ISDIR(found.st_mode) else FILE_MODE
            logger.warning(
                "%s is mode %04o: other users may read it; it should be %04o (chmod %o %s)",
                path,
                mode,
                wanted,
                wanted,
                path,
            )
