"""Bringing a database to the newest schema with the Alembic migrations."""

from alembic import command
from alembic.config import Config


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
