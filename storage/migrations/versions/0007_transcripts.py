"""transcript rows name their channel, pseudonymous chat user, flow and version, and
the states before and after their turn

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_NEW = (
    ("channel", 16),
    ("chat_user", 64),
    ("flow", 32),
    ("flow_version", 16),
    ("state_before", 32),
    ("state_after", 32),
)


def upgrade() -> None:
    with op.batch_alter_table("transcript_entries") as table:
        for name, length in _NEW:
            table.add_column(sa.Column(name, sa.String(length=length), nullable=True))
    # What older rows knew: an event's row held the state before it, a reply's the state
    # after; the chat user's keyed hash and the flow version were never recorded.
    op.execute(
        "UPDATE transcript_entries SET channel = (SELECT conversations.channel FROM "
        "conversations WHERE conversations.id = transcript_entries.conversation_id)"
    )
    op.execute("UPDATE transcript_entries SET state_before = state WHERE direction = 'in'")
    op.execute("UPDATE transcript_entries SET state_after = state WHERE direction = 'out'")
    with op.batch_alter_table("transcript_entries") as table:
        table.drop_column("state")
    op.create_index("ix_transcript_at", "transcript_entries", ["at"])


def downgrade() -> None:
    op.drop_index("ix_transcript_at", table_name="transcript_entries")
    with op.batch_alter_table("transcript_entries") as table:
        table.add_column(
            sa.Column("state", sa.String(length=32), nullable=False, server_default="")
        )
    op.execute(
        "UPDATE transcript_entries SET state = COALESCE("
        "CASE WHEN direction = 'in' THEN state_before ELSE state_after END, '')"
    )
    with op.batch_alter_table("transcript_entries") as table:
        for name, _ in reversed(_NEW):
            table.drop_column(name)
