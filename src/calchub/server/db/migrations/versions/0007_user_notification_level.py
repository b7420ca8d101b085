"""each user's notification level

A user chooses how much they are told about their own calculations and
studies: ``info`` (every state change), ``error`` (failed, invalid or lost
only) or ``none``. Existing accounts get ``error``, the default for new ones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("notify_level", sa.String(10), nullable=False, server_default="error"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("notify_level")
