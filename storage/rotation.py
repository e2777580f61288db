"""Key rotation for encrypted fields, and the start-up check that every stored
ciphertext can still be read with the configured key ring.

Runs on the synchronous driver, like the migrations: these are operator tools.
Rotation works in small batches, each its own short transaction with row locks, so
the bot keeps serving while it runs.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, not_, or_, select
from sqlalchemy.orm import Session

from storage import sandbox
from storage.database import sync_url
from storage.models import Conversation, Member, SandboxMessage
from storage.vault import CARD_PURPOSE, Vault, VaultError

_BATCH = 200
# (model, column, purpose) of every field that holds a ciphertext directly.
_FIELDS = (
    (Member, Member.card_token, CARD_PURPOSE),
    (SandboxMessage, SandboxMessage.body_token, sandbox.PURPOSE),
)


@contextmanager
def _engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(database_url))
    try:
        yield engine
    finally:
        engine.dispose()


def check_keys(database_url: str, vault: Vault) -> None:
    """Refuse to start when stored data needs a key the ring lacks, or a key of the
    ring does not open what it sealed: a clear error now, not a failure mid-chat."""
    with _engine(database_url) as engine, Session(engine) as session:
        for model, column, purpose in _FIELDS:
            prefixes = [column.like(f"{key_id}.%") for key_id in vault.key_ids]
            orphan = session.scalar(select(column).where(not_(or_(*prefixes))).limit(1))
            if orphan is not None:
                key_id = orphan.partition(".")[0]
                raise VaultError(
                    f"{model.__tablename__} holds data sealed with vault key {key_id!r}, "
                    "which VAULT_KEYS does not contain"
                )
            for prefix in prefixes:
                sample = session.scalar(select(column).where(prefix).limit(1))
                if sample is not None:
                    vault.decrypt(sample, purpose)  # raises VaultError naming the key


def rotate(database_url: str, vault: Vault) -> int:
    """Re-encrypt every stored ciphertext under the newest key; returns how many."""
    rotated = 0
    with _engine(database_url) as engine:
        for model, column, purpose in _FIELDS:
            stale = not_(column.like(f"{vault.newest_key_id}.%"))
            while True:
                with Session(engine) as session, session.begin():
                    query = select(model).where(stale).limit(_BATCH).with_for_update()
                    rows = session.scalars(query).all()
                    for row in rows:
                        name = column.key
                        setattr(row, name, vault.rotate(getattr(row, name), purpose))
                rotated += len(rows)
                if len(rows) < _BATCH:
                    break
        rotated += _rotate_conversations(engine, vault)
    return rotated


def _rotate_conversations(engine: Engine, vault: Vault) -> int:
    """Card numbers of enrollments under way live in the conversation slots."""
    rotated = 0
    with Session(engine) as session, session.begin():
        ids = session.scalars(select(Conversation.id)).all()
    for start in range(0, len(ids), _BATCH):
        with Session(engine) as session, session.begin():
            query = (
                select(Conversation)
                .where(Conversation.id.in_(ids[start : start + _BATCH]))
                .with_for_update()
            )
            for row in session.scalars(query):
                token = row.slots.get("card_token")
                if token and vault.needs_rotation(token):
                    row.slots = {**row.slots, "card_token": vault.rotate(token, CARD_PURPOSE)}
                    rotated += 1
    return rotated
