"""indexes for the lists of calculations

Each filter the calculation lists offer gets an index that ends in ``id``, so
a keyset page of a filtered list is one range of one index, read in the
order shown: project (with and without state), state, cluster, type. The
submission time (with ``id``) turns a range of dates into a range of ids, and
``(priority, id)`` and ``(name, id)`` serve the other orders. The one-column
indexes on state and type, and ``(project_id, state)``, are replaced by
their longer forms.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 10:00:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "calculations"
NEW = {
    "ix_calculations_project_state": ["project_id", "state", "id"],
    "ix_calculations_project_id": ["project_id", "id"],
    "ix_calculations_state_id": ["state", "id"],
    "ix_calculations_cluster_id": ["cluster_id", "id"],
    "ix_calculations_calctype_id": ["calctype", "id"],
    "ix_calculations_created": ["created_at", "id"],
    "ix_calculations_priority": ["priority", "id"],
    "ix_calculations_name": ["name", "id"],
}
OLD = {
    "ix_calculations_project": ["project_id", "state"],
    "ix_calculations_state": ["state"],
    "ix_calculations_calctype": ["calctype"],
}


def upgrade() -> None:
    for name in OLD:
        op.drop_index(name, table_name=TABLE)
    for name, columns in NEW.items():
        op.create_index(name, TABLE, columns)


def downgrade() -> None:
    for name in NEW:
        op.drop_index(name, table_name=TABLE)
    for name, columns in OLD.items():
        op.create_index(name, TABLE, columns)
