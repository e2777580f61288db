"""Bringing a database to the newest schema with the Alembic migrations."""

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from storage.database import sync_url


def _config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "storage:migrations")
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    command.upgrade(_config(database_url), "head")


def revision(database_url: str, message: str) -> None:
    """Autogenerate a migration from the models (a developer tool)."""
    command.revision(_config(database_url), message=message, autogenerate=True)


def is_current(database_url: str) -> bool:
    """Whether the database has every migration applied."""
    script = ScriptDirectory.from_config(_config(database_url))
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            applied = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    return applied == set(script.get_heads())
