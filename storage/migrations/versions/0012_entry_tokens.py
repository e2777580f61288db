"""entry tokens: the secure-entry pages offered to chats

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entry_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_index", sa.String(length=64), nullable=False, unique=True),
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_entry_tokens_conversation_id", "entry_tokens", ["conversation_id"])
    op.create_index("ix_entry_tokens_issued_at", "entry_tokens", ["issued_at"])


def downgrade() -> None:
    op.drop_table("entry_tokens")
