"""models (served ML model versions and how they are doing), and notices of models

A model version is registered with its package (or image); the server's model
runtime starts the versions someone wants running, pings them, restarts them
with backoff and marks them failed after repeated failures, which is told of
by a notice that names the model (``notices.model_id``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("runtime", sa.String(length=20), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("wanted", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.String(length=100), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("endpoint", sa.String(length=300), nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("next_start_at", WHEN, nullable=True),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("last_ping_at", WHEN, nullable=True),
        sa.Column("last_healthy_at", WHEN, nullable=True),
        sa.Column("package_bytes", sa.BigInteger(), nullable=True),
        sa.Column("package_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_models_project_id_projects", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_models_owner_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("name", "version", name="uq_models_name"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_models_project_id", "models", ["project_id"])
    with op.batch_alter_table("notices", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("model_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_notices_model_id_models", "models", ["model_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("notices", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint("fk_notices_model_id_models", type_="foreignkey")
        batch.drop_column("model_id")
    op.drop_index("ix_models_project_id", table_name="models")
    op.drop_table("models")
