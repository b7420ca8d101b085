"""studies as records, and calculations that depend on others

``studies`` holds a study's description and what it was made from; the
calculations already labelled with a study get one row per project and
name, owned by whoever submitted the first of them. ``calculation_links``
holds which calculation waits for which, with the files and results that
pass between them, and ``chain_queue`` the calculations that ended with
children to look at. A calculation gains its ``step`` (its name in a
pipeline) and ``deferred`` (the request of a typed calculation whose inputs
wait for its parents' results).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_studies_project_id_projects", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_studies_owner_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_studies"),
        sa.UniqueConstraint("project_id", "name", name="uq_studies_project_id"),
    )
    op.execute(
        "INSERT INTO studies (project_id, name, owner_id, description, kind, spec, created_at) "
        "SELECT project_id, study, owner_id, '', 'group', '{}', created_at FROM calculations "
        "WHERE id IN (SELECT MIN(id) FROM calculations WHERE study IS NOT NULL GROUP BY project_id, study)"
    )
    op.create_table(
        "calculation_links",
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["calculations.id"],
            name="fk_calculation_links_child_id_calculations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["calculations.id"],
            name="fk_calculation_links_parent_id_calculations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("child_id", "parent_id", name="pk_calculation_links"),
    )
    op.create_index("ix_calculation_links_parent_id", "calculation_links", ["parent_id"])
    op.create_table(
        "chain_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chain_queue"),
    )
    with op.batch_alter_table("calculations") as batch:
        batch.add_column(sa.Column("step", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("deferred", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calculations") as batch:
        batch.drop_column("deferred")
        batch.drop_column("step")
    op.drop_table("chain_queue")
    op.drop_index("ix_calculation_links_parent_id", table_name="calculation_links")
    op.drop_table("calculation_links")
    op.drop_table("studies")
