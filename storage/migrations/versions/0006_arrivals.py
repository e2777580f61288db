"""arrivals: events of one chat waiting for their turn, so they apply in order

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "arrivals",
        sa.Column("channel", sa.String(length=16), primary_key=True),
        sa.Column("user_id", sa.String(length=128), primary_key=True),
        sa.Column("event_id", sa.String(length=128), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_arrivals_chat", "arrivals", ["channel", "user_id", "position"])


def downgrade() -> None:
    op.drop_index("ix_arrivals_chat", table_name="arrivals")
    op.drop_table("arrivals")
