"""users, projects, approval and quotas

Every calculation now belongs to a project. Calculations that carried a
project label go to a project of that name (their owners become members);
the others go to their owner's personal project, ``~username``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 06:33:36.028704
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def _quota_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("max_running", sa.Integer(), nullable=True),
        sa.Column("max_queued", sa.Integer(), nullable=True),
        sa.Column("core_hours", sa.Double(), nullable=True),
        sa.Column("quota_days", sa.Integer(), nullable=False, server_default="30"),
    ]


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_failures")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("personal_of", sa.Integer(), nullable=True),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("priority_min", sa.Integer(), nullable=False),
        sa.Column("priority_max", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        *_quota_columns(),
        sa.ForeignKeyConstraint(
            ["personal_of"], ["users.id"], name=op.f("fk_projects_personal_of_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
        sa.UniqueConstraint("personal_of", name=op.f("uq_projects_personal_of")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("used_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_tokens_family"), ["family"], unique=False)
        batch_op.create_index(batch_op.f("ix_refresh_tokens_user_id"), ["user_id"], unique=False)
    op.create_table(
        "project_members",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("added_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_members_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_project_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", "user_id", name=op.f("pk_project_members")),
    )
    with op.batch_alter_table("project_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_members_user_id"), ["user_id"], unique=False)
    op.create_table(
        "favorites",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("calculation_id", sa.Integer(), nullable=False),
        sa.Column("added_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["calculation_id"],
            ["calculations.id"],
            name=op.f("fk_favorites_calculation_id_calculations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_favorites_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "calculation_id", name=op.f("pk_favorites")),
    )
    with op.batch_alter_table("favorites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_favorites_calculation_id"), ["calculation_id"], unique=False)

    with op.batch_alter_table("agent_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", TIME, nullable=True))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=10), nullable=False, server_default="full"))
    with op.batch_alter_table("users", schema=None) as batch_op:
        for column in _quota_columns():
            batch_op.add_column(column)

    with op.batch_alter_table("calculations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("project_id", sa.Integer(), nullable=True))
    _projects_from_labels()
    # On SQLite this rebuilds the table: keep AUTOINCREMENT (ids are never reused, stored files
    # are keyed by them), and the claim index's descending priority, which reflection loses.
    with op.batch_alter_table(
        "calculations", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.alter_column("project_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index(batch_op.f("ix_calculations_project"))
        batch_op.create_index("ix_calculations_project", ["project_id", "state"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_calculations_project_id_projects"), "projects", ["project_id"], ["id"]
        )
        batch_op.drop_column("project")
    if op.get_bind().dialect.name == "sqlite":
        _claim_index_descending()


def _claim_index_descending() -> None:
    op.drop_index("ix_calculations_claim", table_name="calculations")
    op.create_index(
        "ix_calculations_claim", "calculations", ["cluster_id", "state", sa.text("priority DESC"), "id"]
    )


def _projects_from_labels() -> None:
    """A personal project for every user, a project for every label, and each calculation in one."""
    bind = op.get_bind()
    at = datetime.now(UTC)
    projects = sa.table(
        "projects",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("description", sa.Text),
        sa.column("personal_of", sa.Integer),
        sa.column("requires_approval", sa.Boolean),
        sa.column("priority_min", sa.Integer),
        sa.column("priority_max", sa.Integer),
        sa.column("created_at", TIME),
        sa.column("quota_days", sa.Integer),
    )
    members = sa.table(
        "project_members",
        sa.column("project_id", sa.Integer),
        sa.column("user_id", sa.Integer),
        sa.column("role", sa.String),
        sa.column("added_at", TIME),
    )
    common = {"requires_approval": False, "priority_min": -100, "priority_max": 100, "created_at": at}
    common["quota_days"] = 30
    users = bind.execute(sa.text("SELECT id, username FROM users")).all()
    for user_id, username in users:
        bind.execute(
            projects.insert().values(
                name=f"~{username}", description=f"{username}'s own", personal_of=user_id, **common
            )
        )
    labelled = bind.execute(
        sa.text("SELECT DISTINCT project, owner_id FROM calculations WHERE project IS NOT NULL")
    ).all()
    for label in sorted({row[0] for row in labelled}):
        bind.execute(projects.insert().values(name=label, description="", personal_of=None, **common))
    ids: dict[str, int] = {name: i for name, i in bind.execute(sa.text("SELECT name, id FROM projects"))}
    for label, owner in labelled:
        bind.execute(
            members.insert().values(project_id=ids[label], user_id=owner, role="member", added_at=at)
        )
    for user_id, username in users:
        bind.execute(
            members.insert().values(
                project_id=ids[f"~{username}"], user_id=user_id, role="manager", added_at=at
            )
        )
    bind.execute(
        sa.text(
            "UPDATE calculations SET project_id = "
            "(SELECT p.id FROM projects p WHERE p.name = calculations.project) WHERE project IS NOT NULL"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE calculations SET project_id = "
            "(SELECT p.id FROM projects p WHERE p.personal_of = calculations.owner_id) WHERE project IS NULL"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("calculations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("project", sa.VARCHAR(length=100), nullable=True))
    op.execute(
        "UPDATE calculations SET project = "
        "(SELECT p.name FROM projects p WHERE p.id = calculations.project_id AND p.personal_of IS NULL)"
    )
    with op.batch_alter_table(
        "calculations", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_calculations_project_id_projects"), type_="foreignkey")
        batch_op.drop_index("ix_calculations_project")
        batch_op.create_index(batch_op.f("ix_calculations_project"), ["project"], unique=False)
        batch_op.drop_column("project_id")
    if op.get_bind().dialect.name == "sqlite":
        _claim_index_descending()
    with op.batch_alter_table("users", schema=None) as batch_op:
        for name in ("quota_days", "core_hours", "max_queued", "max_running"):
            batch_op.drop_column(name)
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scope")
    with op.batch_alter_table("agent_keys", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    for table in ("favorites", "project_members", "refresh_tokens", "projects", "sign_in_failures"):
        op.drop_table(table)
