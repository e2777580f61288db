"""processed events keep their position, so a channel that numbers its events can ask
whether a range of them has arrived with one small indexed query

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_events") as events:
        events.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        events.create_index("ix_processed_events_position", ["channel", "position"])


def downgrade() -> None:
    with op.batch_alter_table("processed_events") as events:
        events.drop_index("ix_processed_events_position")
        events.drop_column("position")
