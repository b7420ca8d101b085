"""indexes for the core-hours a project or an owner used

Core-hours used over a quota's period are counted from the runs that
finished within it and those still running. ``(project_id, finished_at)``
and ``(owner_id, finished_at)`` find the first without reading every
calculation the project or owner ever had: the projects page took 1.6 s for
an admin at a million calculations (``bench/list_million.py``), and a
submission to a project with a core-hours quota paid the same.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 00:50:00
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLE = "calculations"
NEW = {
    "ix_calculations_project_finished": ["project_id", "finished_at"],
    "ix_calculations_owner_finished": ["owner_id", "finished_at"],
}


def upgrade() -> None:
    for name, columns in NEW.items():
        op.create_index(name, TABLE, columns)


def downgrade() -> None:
    for name in NEW:
        op.drop_index(name, table_name=TABLE)
