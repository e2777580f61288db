"""each conversation names the flow it is in

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as table:
        table.add_column(
            sa.Column("flow", sa.String(length=32), nullable=False, server_default="enrollment")
        )
    # Enrolled members' conversations already live in the member flow.
    op.execute("UPDATE conversations SET flow = 'member' WHERE state = 'member'")


def downgrade() -> None:
    with op.batch_alter_table("conversations") as table:
        table.drop_column("flow")
