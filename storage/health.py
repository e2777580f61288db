"""What ``/healthz`` asks of the database: the write a webhook starts with."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import insert

from storage.database import Database
from storage.models import ProcessedEvent

_PROBE_CHANNEL = "-healthz"  # no channel is named so: the row never meets a real one


async def probe_write(database: Database) -> None:
    """Record a processed event, as every webhook does first, and roll it back: nothing
    is kept. Raises the driver's error (``OperationalError`` for a read-only SQLite
    file or an unreachable server) when a webhook could not be served."""
    async with database.engine.connect() as connection:
        transaction = await connection.begin()  # BEGIN IMMEDIATE on SQLite
        try:
            probe = {"channel": _PROBE_CHANNEL, "event_id": uuid.uuid4().hex}
            await connection.execute(insert(ProcessedEvent).values(**probe, at=datetime.now(UTC)))
        finally:
            await transaction.rollback()
