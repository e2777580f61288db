"""member choices: the language a member chose, a wallet offer put off

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members") as members:
        members.add_column(sa.Column("lang", sa.String(length=8), nullable=True))
        members.add_column(
            sa.Column("wallet_later", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("conversations") as conversations:
        conversations.add_column(
            sa.Column("lang_chosen", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as conversations:
        conversations.drop_column("lang_chosen")
    with op.batch_alter_table("members") as members:
        members.drop_column("wallet_later")
        members.drop_column("lang")
