"""Server settings, read from ``CALCHUB_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path("~/.calchub").expanduser()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALCHUB_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    database_url: str | None = Field(None, description="SQLAlchemy URL; SQLite under home when unset")
    storage_dir: Path | None = Field(None, description="artifact store; home/artifacts when unset")
    environment: Literal["development", "production"] = "development"
    lease_seconds: float = Field(30.0, gt=0, le=3600)
    heartbeat_seconds: float = Field(5.0, gt=0, le=600)
    max_upload_bytes: int = Field(1024**3, ge=1)
    max_request_bytes: int = Field(256 * 1024**2, ge=1024)
    log_level: str = "info"
    secret_key: str | None = Field(
        None,
        min_length=32,
        description="signs access tokens; every replica needs the same. Development: made and kept "
        "under home when unset",
    )
    access_minutes: float = Field(15.0, gt=0, le=24 * 60, description="lifetime of an access token")
    refresh_days: float = Field(14.0, gt=0, le=365, description="lifetime of a sign-in session")
    refresh_reuse_seconds: float = Field(
        20.0,
        ge=0,
        le=300,
        description="a refresh token presented again this soon after its first use (a second tab "
        "renewing at the same moment) gets an access token instead of ending the session",
    )

    public_url: str = Field(
        "http://127.0.0.1:8000", description="where people reach the pages: the links in messages"
    )
    smtp_host: str | None = Field(None, description="the mail server; no email is sent when unset")
    smtp_port: int | None = Field(
        None, ge=1, le=65535, description="587 (starttls), 465 (tls), 25 when unset"
    )
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_sender: str = Field("calchub@localhost", description="the From of every message")
    notify_digest_seconds: float = Field(
        60.0, ge=0, le=3600, description="errors for one person within this window go as one digest"
    )
    notify_retry_seconds: float = Field(
        10.0, gt=0, le=600, description="the first wait before a message that failed is tried again"
    )

    run_models: bool = Field(
        True,
        description="this server runs the ML models people start (with several replicas: exactly one)",
    )
    model_runtimes: list[Literal["process", "container"]] = Field(
        default_factory=lambda: ["process", "container"],  # type: ignore[arg-type]
        description="the model runtimes allowed: a process runs a package's code as the server's user",
    )
    model_host: str = Field(
        "127.0.0.1", description="the address models listen on, which every replica's proxy must reach"
    )
    model_ping_seconds: float = Field(5.0, gt=0, le=600, description="how often each running model is pinged")
    model_backoff_seconds: float = Field(
        1.0, gt=0, le=600, description="the first wait before a failed model is restarted; doubles each time"
    )
    model_max_failures: int = Field(
        5, ge=1, le=100, description="failures in a row after which a model is left failed"
    )

    @model_validator(mode="after")
    def _checks(self) -> Settings:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                "CALCHUB_LEASE_SECONDS must be at least twice CALCHUB_HEARTBEAT_SECONDS, "
                "or a healthy agent would lose its leases"
            )
        if self.environment == "production" and self.resolved_database_url().startswith("sqlite"):
            # SQLite is fine for one laptop; refuse it where several replicas may run.
            raise ValueError("CALCHUB_ENVIRONMENT=production needs CALCHUB_DATABASE_URL (PostgreSQL)")
        if self.environment == "production" and self.secret_key is None:
            raise ValueError(
                "CALCHUB_ENVIRONMENT=production needs CALCHUB_SECRET_KEY (32 characters or more, "
                "the same on every replica): `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return self

    def resolved_secret_key(self) -> str:
        """The signing key; in development one is made on first use and kept under home."""
        if self.secret_key is not None:
            return self.secret_key
        path = self.home / "secret_key"
        if not path.exists():
            # Written whole, then linked into place: two processes starting together agree.
            self.home.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f".secret_key.{os.getpid()}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        return path.read_text().strip()

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'calchub.db'}"

    def resolved_storage_dir(self) -> Path:
        return self.storage_dir or self.home / "artifacts"
