"""Alembic environment: runs the migrations on the synchronous driver of DATABASE_URL."""

from alembic import context
from sqlalchemy import create_engine

from storage.database import sync_url
from storage.models import Base

_url = sync_url(context.config.get_main_option("sqlalchemy.url") or "")
_engine = create_engine(_url)
with _engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
_engine.dispose()
