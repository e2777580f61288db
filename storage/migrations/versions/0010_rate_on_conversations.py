"""the rate limit counted on the conversation row, which every turn locks and writes
anyway, instead of a message_counts row written per message

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as conversations:
        conversations.add_column(
            sa.Column("minute_start", sa.DateTime(timezone=True), nullable=True)
        )
        conversations.add_column(
            sa.Column("minute_count", sa.Integer(), nullable=False, server_default="0")
        )
    op.drop_table("message_counts")


def downgrade() -> None:
    op.create_table(
        "message_counts",
        sa.Column("subject", sa.String(length=160), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    with op.batch_alter_table("conversations") as conversations:
        conversations.drop_column("minute_count")
        conversations.drop_column("minute_start")
