"""The database schema (SQLAlchemy 2, typed). Alembic migrations follow it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware (SQLite forgets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A time given without a zone (a query parameter, a form) is read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Quotas:
    """Limits a project or a user may carry; none when unset."""

    max_running: Mapped[int | None]
    max_queued: Mapped[int | None]
    core_hours: Mapped[float | None]
    quota_days: Mapped[int] = mapped_column(default=30)


class User(Quotas, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default="user")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    #: False while blocked: every session, refresh token and API token stops working.
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    #: What they are told about their own calculations: info, error or none (``NotifyLevel``).
    notify_level: Mapped[str] = mapped_column(String(10), default="error", server_default="error")


class RefreshToken(Base):
    """One refresh token; each use rotates it into a new one of the same family."""

    __tablename__ = "refresh_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SignInFailures(Base):
    """Failed sign-ins per account (``user:<name>``) and per address (``addr:<ip>``)."""

    __tablename__ = "sign_in_failures"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_at: Mapped[datetime] = mapped_column(default=now)


class Project(Quotas, Base):
    """A research group's proposal or topic; every calculation belongs to one."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    #: The user whose personal project this is (``~username``), if it is one.
    personal_of: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    requires_approval: Mapped[bool] = mapped_column(default=False)
    priority_min: Mapped[int] = mapped_column(default=-100)
    priority_max: Mapped[int] = mapped_column(default=100)
    created_at: Mapped[datetime] = mapped_column(default=now)


class ProjectMember(Base):
    __tablename__ = "project_members"
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(20), default="member")
    added_at: Mapped[datetime] = mapped_column(default=now)


class Favorite(Base):
    __tablename__ = "favorites"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    calculation_id: Mapped[int] = mapped_column(
        ForeignKey("calculations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(default=now)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: "read" (looks only) or "full".
    scope: Mapped[str] = mapped_column(String(10), default="full")
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Cluster(Base):
    __tablename__ = "clusters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    executor: Mapped[str] = mapped_column(String(63), default="local")
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    last_heartbeat: Mapped[datetime | None]
    status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: What an admin set for the cluster's executor, e.g. {"slurm": {...}}.
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AgentKey(Base):
    __tablename__ = "agent_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    revoked_at: Mapped[datetime | None]
    #: A rotated key keeps working until then, so its agent can be given the new one.
    expires_at: Mapped[datetime | None]


class Calculation(Base):
    """A calculation: what to run, where, and how far it got.

    The lists (``repositories.calculations.page_ids``) read keyset pages off indexes that
    end in ``id``, one for each filter they offer (owner, project, project and state,
    state, cluster, type), so a filtered page is a range of one index in the order shown;
    ``(created_at, id)`` turns submission dates into a range of ids, and ``(priority, id)``
    and ``(name, id)`` serve the other orders.
    """

    __tablename__ = "calculations"
    __table_args__ = (
        Index("ix_calculations_owner", "owner_id", "id"),
        # Also what the quotas count: a project's calculations waiting or held.
        Index("ix_calculations_project_state", "project_id", "state", "id"),
        Index("ix_calculations_project_id", "project_id", "id"),
        Index("ix_calculations_state_id", "state", "id"),
        Index("ix_calculations_cluster_id", "cluster_id", "id"),
        Index("ix_calculations_calctype_id", "calctype", "id"),
        Index("ix_calculations_created", "created_at", "id"),
        Index("ix_calculations_priority", "priority", "id"),
        Index("ix_calculations_name", "name", "id"),
        # The same orders within one project: a viewer who is not an admin is always listed
        # one project at a time (migration 0008).
        Index("ix_calculations_project_priority", "project_id", "priority", "id"),
        Index("ix_calculations_project_name", "project_id", "name", "id"),
        # Core-hours used since a day: the runs that finished since then, of a project or an
        # owner, without reading their whole history (migration 0010).
        Index("ix_calculations_project_finished", "project_id", "finished_at"),
        Index("ix_calculations_owner_finished", "owner_id", "finished_at"),
        # Never reuse an id: files in the artifact store are keyed by it.
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    state: Mapped[str] = mapped_column(String(20))
    command: Mapped[list[Any]]
    env: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outputs: Mapped[list[Any]] = mapped_column(default=list)
    cores: Mapped[int] = mapped_column(default=1)
    gpus: Mapped[int] = mapped_column(default=0)
    memory: Mapped[int | None] = mapped_column(BigInteger)
    walltime: Mapped[int | None]
    priority: Mapped[int] = mapped_column(default=0)
    attempt: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=2)
    exit_code: Mapped[int | None]
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    lease_agent: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The calculation type and the exact version it was checked, rendered and run with.
    calctype: Mapped[str | None] = mapped_column(String(100))
    calctype_version: Mapped[str | None] = mapped_column(String(50))
    calctype_digest: Mapped[str | None] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    analyses: Mapped[list[Any] | None] = mapped_column(JSON)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    #: The name of its study, within its project (the ``studies`` row holds the rest).
    study: Mapped[str | None] = mapped_column(String(100), index=True)
    bytes_freed: Mapped[int | None] = mapped_column(BigInteger)
    #: Resources only a batch scheduler reads (nodes, tasks, partition, QOS, mail ...).
    scheduler: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Its step's name in a pipeline (or in a request whose calculations depend on each other).
    step: Mapped[str | None] = mapped_column(String(100))
    #: A typed calculation whose inputs wait for its parents' results: the request, rendered
    #: once they are in (``services.chains``); cleared then.
    deferred: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Who else is told when it ends (email addresses given at submit).
    notify: Mapped[list[Any] | None] = mapped_column(JSON)


# The claim query: queued work of one cluster, highest priority first, then oldest,
# read straight off the index without sorting.
Index(
    "ix_calculations_claim",
    Calculation.cluster_id,
    Calculation.state,
    Calculation.priority.desc(),
    Calculation.id,
)


class Study(Base):
    """Calculations run together: a sweep, a pipeline (swept or not), or a group by name.

    A calculation names its study (``calculations.study``) within its project; this row holds
    the description and what the study was made from (``spec``: the parameters varied, a
    pipeline's steps), for its page.
    """

    __tablename__ = "studies"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    #: sweep, pipeline or group.
    kind: Mapped[str] = mapped_column(String(10), default="group")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)


class CalculationLink(Base):
    """A child waits for its parent and takes files and results from it (``contracts.Parent``)."""

    __tablename__ = "calculation_links"
    child_id: Mapped[int] = mapped_column(ForeignKey("calculations.id", ondelete="CASCADE"), primary_key=True)
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("calculations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    #: [{"path": ..., "as": ...}]: files the parent kept, placed in the child's folder.
    files: Mapped[list[Any]] = mapped_column(default=list)
    #: {dotted input of the child: result name of the parent}.
    results: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ChainQueue(Base):
    """Calculations that ended and have children, for the chain follower to look at
    (``services.chains``): written in the transaction of the ending, taken by the follower."""

    __tablename__ = "chain_queue"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int]


class Notice(Base):
    """Something to tell people about (a calculation ended, a study finished): the outbox.

    Written in the transaction of the change it tells of, so none is lost and none is told of
    a change that was rolled back; ``services.notices`` turns it into deliveries (``spread``).
    """

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_spread", "spread", "id"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=now)
    #: calculation.<state>, study.finished or model.failed.
    kind: Mapped[str] = mapped_column(String(40))
    #: info or error (``NotifyLevel``).
    level: Mapped[str] = mapped_column(String(10))
    calculation_id: Mapped[int | None] = mapped_column(ForeignKey("calculations.id", ondelete="CASCADE"))
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    #: What the change said (a failure's reason).
    message: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(default=0)
    spread: Mapped[bool] = mapped_column(default=False)


class Delivery(Base):
    """One notice to one recipient by one channel, sent once (unique), retried until it is."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "channel", "recipient"),
        Index("ix_deliveries_due", "state", "next_at"),
        # A user's in-app feed, newest first (recipient: the user's id).
        Index("ix_deliveries_feed", "channel", "recipient", "id"),
        # What they have not read: counted on every page, so only those rows are in it.
        Index(
            "ix_deliveries_unread",
            "channel",
            "recipient",
            sqlite_where=text("read_at IS NULL"),
            postgresql_where=text("read_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(320))
    level: Mapped[str] = mapped_column(String(10))
    #: pending, sent or failed (for good).
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime] = mapped_column(default=now)
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    #: In the app: when its user read it.
    read_at: Mapped[datetime | None]


class Webhook(Base):
    """A URL of a project's that receives its notices as signed JSON (HMAC-SHA256 of the body)."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    #: The key the body is signed with; shown once, when the webhook is made.
    secret: Mapped[str] = mapped_column(String(100))
    #: info (every notice) or error (failed, invalid, lost, and studies with failures).
    level: Mapped[str] = mapped_column(String(10), default="info")
    created_at: Mapped[datetime] = mapped_column(default=now)


class CalculationEvent(Base):
    __tablename__ = "calculation_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    calculation_id: Mapped[int] = mapped_column(ForeignKey("calculations.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=now)
    attempt: Mapped[int]
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)


class CalculationFile(Base):
    __tablename__ = "calculation_files"
    __table_args__ = (UniqueConstraint("calculation_id", "kind", "path"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    calculation_id: Mapped[int] = mapped_column(ForeignKey("calculations.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int]
    kind: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=now)


class Result(Base):
    """One named result of a calculation: a scalar (value, unit, error) or a table or figure."""

    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("calculation_id", "kind", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    calculation_id: Mapped[int] = mapped_column(ForeignKey("calculations.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int]
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100), index=True)
    value: Mapped[float | None]
    text: Mapped[str | None] = mapped_column(Text)
    error: Mapped[float | None]
    unit: Mapped[str] = mapped_column(String(50), default="")
    source: Mapped[str] = mapped_column(String(100), default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class HeartbeatSample(Base):
    """What one agent reported of its machine at one moment, for graphs over time.

    Samples are thinned as they age (see ``services.heartbeats``), so the table stays small:
    the series of a cluster is read by ``(cluster_id, at)``, an agent's latest sample by
    ``(cluster_id, agent, at)``, and the samples due for thinning or deletion by ``(coarse, at)``.
    """

    __tablename__ = "heartbeat_samples"
    __table_args__ = (
        Index("ix_heartbeat_samples_cluster_at", "cluster_id", "at"),
        Index("ix_heartbeat_samples_agent_at", "cluster_id", "agent", "at"),
        Index("ix_heartbeat_samples_coarse_at", "coarse", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    agent: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=now)
    cores: Mapped[int] = mapped_column(default=0)
    running: Mapped[int] = mapped_column(default=0)
    cpu_percent: Mapped[float] = mapped_column(default=0.0)
    load1: Mapped[float] = mapped_column(default=0.0)
    memory_total: Mapped[int] = mapped_column(BigInteger, default=0)
    memory_available: Mapped[int] = mapped_column(BigInteger, default=0)
    #: A sample that stands for its agent's whole thinned period (the mean of what was there).
    coarse: Mapped[bool] = mapped_column(default=False)


class LogEntry(Base):
    """One event of an agent or of the service, for the live feed of what happened.

    ``cluster_id`` and ``project_id`` say who may see it (``domain.permissions.log_scope``):
    an entry of neither is the service's own and is shown to moderators and admins. A
    deleted project takes its entries with it, so none becomes visible to more people.
    Ids are never reused (``AUTOINCREMENT`` on SQLite): the live feed goes on from an id.
    """

    __tablename__ = "log_entries"
    __table_args__ = (
        Index("ix_log_entries_at", "at"),
        Index("ix_log_entries_cluster", "cluster_id", "id"),
        Index("ix_log_entries_project", "project_id", "id"),
        Index("ix_log_entries_calculation", "calculation_id"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=now)
    #: debug, info, warning or error.
    level: Mapped[str] = mapped_column(String(10), default="info")
    #: Who said it: "agent" or "server".
    source: Mapped[str] = mapped_column(String(20))
    #: What kind of event, e.g. "agent.started" or "key.revoked".
    kind: Mapped[str] = mapped_column(String(60))
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id", ondelete="SET NULL"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    calculation_id: Mapped[int | None] = mapped_column(ForeignKey("calculations.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ModelVersion(Base):
    """One version of a served ML model: how to run it, whether it is wanted, and how it is.

    ``spec`` is the manifest's running part (command or image, Python, env, resources,
    inputs and outputs, start and invocation timeouts). The runtime that runs it writes
    where it runs (``host``, ``pid``, ``port``, ``endpoint``) and what it saw on each look.
    """

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "version"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    #: process or container.
    runtime: Mapped[str] = mapped_column(String(20))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The version /models/{name}/invocations reaches; one per name.
    current: Mapped[bool] = mapped_column(default=False)
    #: Someone asked for it to run (start) or not (stop).
    wanted: Mapped[bool] = mapped_column(default=False)
    #: stopped, starting, healthy, unhealthy or failed (``domain.models.ModelState``).
    state: Mapped[str] = mapped_column(String(20), default="stopped")
    message: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[str | None] = mapped_column(String(100))
    port: Mapped[int | None]
    #: Where the proxy sends invocations (http://host:port).
    endpoint: Mapped[str | None] = mapped_column(String(300))
    #: Restarts since it was last started by someone.
    restarts: Mapped[int] = mapped_column(default=0)
    #: Failures in a row (crashes, pings missed past the limit); reset when it answers.
    failures: Mapped[int] = mapped_column(default=0)
    #: Pings missed in a row while it runs.
    missed: Mapped[int] = mapped_column(default=0)
    #: When a restart after a failure is due.
    next_start_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    last_ping_at: Mapped[datetime | None]
    last_healthy_at: Mapped[datetime | None]
    package_bytes: Mapped[int | None] = mapped_column(BigInteger)
    package_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=now)
