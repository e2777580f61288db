"""the ID a sign-in keeps between its ID and password steps is sealed: drop the clear one

A sign-in kept the ID typed at its ID step in clear in the conversation's slots (and,
after the password, the member's ID): what was typed may be the password, typed too
soon. The clear value is dropped; a sign-in waiting for its password asks the ID again.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_conversations = sa.table(
    "conversations",
    sa.column("id", sa.Integer),
    sa.column("flow", sa.String),
    sa.column("state", sa.String),
    sa.column("slots", sa.JSON),
)


def upgrade() -> None:
    _drop("netid")


def downgrade() -> None:
    """The older release reads no sealed ID: its sign-ins waiting for a password ask the
    ID again."""
    _drop("netid_token")


def _drop(slot: str) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_conversations.c.id, _conversations.c.state, _conversations.c.slots).where(
            _conversations.c.flow == "signin"
        )
    ).all()
    for row_id, state, slots in rows:
        if not isinstance(slots, dict) or slot not in slots:
            continue
        kept = {name: value for name, value in slots.items() if name != slot}
        bind.execute(
            sa.update(_conversations)
            .where(_conversations.c.id == row_id)
            .values(slots=kept, state="signin_id" if state == "signin_password" else state)
        )
