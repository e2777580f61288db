"""outbox: a sent or failed row's next_attempt_at is when it was done (pruning keys on it)

Rows done before this revision kept the time of their last scheduled attempt there,
which can be long before the send: a sent row takes its ``sent_at``; a failed row,
whose give-up time was never recorded, takes the time of this upgrade, so pruning
keeps it a full retention from now.

Revision ID: 0015
Revises: 0014
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_OUTBOX = sa.table(
    "outbox",
    sa.column("status", sa.String()),
    sa.column("sent_at", sa.DateTime(timezone=True)),
    sa.column("next_attempt_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.execute(
        _OUTBOX.update()
        .where(_OUTBOX.c.status == "sent", _OUTBOX.c.sent_at.is_not(None))
        .values(next_attempt_at=_OUTBOX.c.sent_at)
    )
    op.execute(
        _OUTBOX.update()
        .where(_OUTBOX.c.status == "failed")
        .values(next_attempt_at=datetime.now(UTC))
    )


def downgrade() -> None:
    """Nothing to undo: the times stay valid for the older code, which never reads them
    on a row that is done."""
