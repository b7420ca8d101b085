"""batch scheduler settings and resources

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:35:43.652266
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("calculations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduler", sa.JSON(), nullable=True))

    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:

    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.drop_column("settings")

    with op.batch_alter_table("calculations", schema=None) as batch_op:
        batch_op.drop_column("scheduler")
