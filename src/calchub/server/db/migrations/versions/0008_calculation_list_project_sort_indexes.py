"""indexes for the lists of one project in priority and name order

A viewer who is not an admin sees some projects only, and the list reads
one keyset page per project off an index that starts with ``project_id``
(``repositories.calculations.page_ids``). ``(project_id, id)`` serves the
newest and oldest first; sorted by priority or by name, each project's
calculations were all collected and sorted for every page: 0.2 to 0.3 s for a
project of 150,000 calculations (SQLite, ``bench/list_million.py``).
``(project_id, priority, id)`` and ``(project_id, name, id)`` give those
orders too.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:00:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLE = "calculations"
NEW = {
    "ix_calculations_project_priority": ["project_id", "priority", "id"],
    "ix_calculations_project_name": ["project_id", "name", "id"],
}


def upgrade() -> None:
    for name, columns in NEW.items():
        op.create_index(name, TABLE, columns)


def downgrade() -> None:
    for name in NEW:
        op.drop_index(name, table_name=TABLE)
