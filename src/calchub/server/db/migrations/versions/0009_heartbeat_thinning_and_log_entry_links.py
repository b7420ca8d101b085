"""thinning of heartbeat samples, and log entries that go with their project

Samples older than two days are merged into ten-minute means: a ``coarse``
flag marks those, and two indexes find an agent's samples by time and the
samples due for thinning. A project's log entries are deleted with the
project (they were kept with no project, which no one but admins could then
see), log entries are found by their calculation, and their ids are never
reused on SQLite (``AUTOINCREMENT``), so a feed read by id never skips one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 00:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PROJECT_FK = "fk_log_entries_project_id_projects"


def upgrade() -> None:
    with op.batch_alter_table("heartbeat_samples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("coarse", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index("ix_heartbeat_samples_agent_at", ["cluster_id", "agent", "at"])
        batch_op.create_index("ix_heartbeat_samples_coarse_at", ["coarse", "at"])
    _log_entries(on_project_delete="CASCADE", autoincrement=True)
    op.create_index("ix_log_entries_calculation", "log_entries", ["calculation_id"])


def _log_entries(on_project_delete: str, autoincrement: bool) -> None:
    # On SQLite the table is rebuilt, and AUTOINCREMENT said with it (reflection would lose it).
    # PostgreSQL changes the constraint in place: a rebuild there would start ids again at 1.
    sqlite = op.get_context().dialect.name == "sqlite"
    with op.batch_alter_table(
        "log_entries",
        schema=None,
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": autoincrement},
    ) as batch_op:
        batch_op.drop_constraint(PROJECT_FK, type_="foreignkey")
        batch_op.create_foreign_key(
            PROJECT_FK, "projects", ["project_id"], ["id"], ondelete=on_project_delete
        )


def downgrade() -> None:
    op.drop_index("ix_log_entries_calculation", table_name="log_entries")
    _log_entries(on_project_delete="SET NULL", autoincrement=False)
    with op.batch_alter_table("heartbeat_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_heartbeat_samples_coarse_at")
        batch_op.drop_index("ix_heartbeat_samples_agent_at")
        batch_op.drop_column("coarse")
