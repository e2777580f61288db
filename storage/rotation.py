"""Key rotation for encrypted fields, and the start-up check that every stored
ciphertext can still be read with the configured key ring.

Runs on the synchronous driver, like the migrations: these are operator tools.
Rotation works in small batches, each its own short transaction with row locks, so
the bot keeps serving while it runs.

A ciphertext names its key as a prefix (``<key id>.``); it is compared exactly
(``substr``), never with LIKE, where ``_`` and ``%`` in a key id would be wildcards.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, create_engine, func, not_, or_, select
from sqlalchemy.orm import Session

from storage import sandbox
from storage.database import sync_url
from storage.models import Conversation, Member, SandboxMessage
from storage.vault import CARD_PURPOSE, Vault, VaultError

_BATCH = 200


@dataclass(frozen=True)
class _Field:
    """Where ciphertexts of one purpose are stored: a column, or a conversation slot."""

    model: Any
    name: str
    purpose: str
    holder: str  # who holds them, for the start-up error
    in_slots: bool = False

    @property
    def token(self) -> ColumnElement[str]:
        if self.in_slots:
            return self.model.slots[self.name].as_string()  # type: ignore[no-any-return]
        return getattr(self.model, self.name)  # type: ignore[no-any-return]

    def get(self, row: Any) -> str:
        return str(row.slots[self.name] if self.in_slots else getattr(row, self.name))

    def set(self, row: Any, token: str) -> None:
        if self.in_slots:
            row.slots = {**row.slots, self.name: token}  # a new dict: the change is seen
        else:
            setattr(row, self.name, token)


_FIELDS = (
    _Field(Member, "card_token", CARD_PURPOSE, "members hold card numbers"),
    _Field(SandboxMessage, "body_token", sandbox.PURPOSE, "sandbox messages hold text"),
    # The card number of an enrollment under way lives in the conversation's slots.
    _Field(
        Conversation,
        "card_token",
        CARD_PURPOSE,
        "an enrollment in progress holds a card number",
        in_slots=True,
    ),
)


def _sealed_with(token: ColumnElement[str], key_id: str) -> ColumnElement[bool]:
    prefix = f"{key_id}."
    return func.substr(token, 1, len(prefix)) == prefix


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
        for stored in _FIELDS:
            present = stored.token.is_not(None)
            known = [_sealed_with(stored.token, key_id) for key_id in vault.key_ids]
            orphan = session.scalar(select(stored.token).where(present, not_(or_(*known))).limit(1))
            if orphan is not None:
                key_id = orphan.partition(".")[0]
                raise VaultError(
                    f"{stored.holder} sealed with vault key {key_id!r}, "
                    "which VAULT_KEYS does not contain"
                )
            for sealed in known:
                sample = session.scalar(select(stored.token).where(present, sealed).limit(1))
                if sample is not None:
                    vault.decrypt(sample, stored.purpose)  # raises VaultError naming the key


def rotate(database_url: str, vault: Vault) -> int:
    """Re-encrypt every stored ciphertext under the newest key; returns how many."""
    rotated = 0
    with _engine(database_url) as engine:
        for stored in _FIELDS:
            stale = (
                stored.token.is_not(None),
                not_(_sealed_with(stored.token, vault.newest_key_id)),
            )
            while True:
                with Session(engine) as session, session.begin():
                    query = select(stored.model).where(*stale).limit(_BATCH).with_for_update()
                    rows = session.scalars(query).all()
                    for row in rows:
                        stored.set(row, vault.rotate(stored.get(row), stored.purpose))
                rotated += len(rows)
                if len(rows) < _BATCH:
                    break
    return rotated
