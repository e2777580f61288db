"""support agents can be disabled; disabling ends their sessions

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as agents:
        agents.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        agents.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("agents") as agents:
        agents.drop_column("session_epoch")
        agents.drop_column("disabled_at")
