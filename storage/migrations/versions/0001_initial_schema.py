"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 18:46:59.232487
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "user_id"),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("net_answer_id", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("card_token", sa.Text(), nullable=False),
        sa.Column("card_index", sa.String(length=64), nullable=False),
        sa.Column("card_masked", sa.String(length=32), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("newsletter", sa.Boolean(), nullable=False),
        sa.Column("terms_version", sa.String(length=16), nullable=False),
        sa.Column("terms_agreed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("card_index"),
        sa.UniqueConstraint("net_answer_id"),
    )
    op.create_table(
        "processed_events",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "event_id"),
    )
    op.create_table(
        "sandbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("body_token", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sandbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sandbox_messages_conversation_id"), ["conversation_id"], unique=False
        )

    op.create_table(
        "chat_identities",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("channel", "user_id"),
    )
    op.create_table(
        "transcript_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("transcript_entries", schema=None) as batch_op:
        batch_op.create_index("ix_transcript_conversation", ["conversation_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("transcript_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_transcript_conversation")

    op.drop_table("transcript_entries")
    op.drop_table("chat_identities")
    with op.batch_alter_table("sandbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_messages_conversation_id"))

    op.drop_table("sandbox_messages")
    op.drop_table("processed_events")
    op.drop_table("members")
    op.drop_table("conversations")
