"""The in-app feed of notices: what calchub told a user about their calculations, studies and
served models.

A notice in the feed is the user's own delivery of it (its ``id`` is what marking read
takes), with the calculation, the study or the model version it tells of. :attr:`Notice.subject` and
:attr:`Notice.what` are the one line the CLI and the pages show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from calchub.contracts.calculations import Id, Strict

Level = Literal["info", "error"]
#: The most notices one answer carries, and the most ids one mark-read names.
MAX_PAGE = 200
MAX_MARK = 1000
#: How much of a notice's message the one-line ``what`` keeps.
WHAT_MESSAGE_CHARS = 200
_SAID = {"completed": "completed", "failed": "failed", "running": "is running"}


class Notice(BaseModel):
    """One notice in a user's feed, newest first."""

    #: This user's delivery of the notice: what ``POST /me/notices/read`` takes.
    id: int
    at: datetime
    #: ``calculation.<state>`` (``calculation.failed``), ``study.finished`` or ``model.failed``.
    kind: str
    level: Level
    #: What the change said (a failure's reason).
    message: str | None = None
    calculation_id: int | None = None
    calculation_name: str | None = None
    study_id: int | None = None
    study_name: str | None = None
    model_id: int | None = None
    model_name: str | None = None
    model_version: str | None = None
    read: bool

    @property
    def subject(self) -> str:
        """What happened, as a mail's subject says it: ``calculation 12 "relax" failed``,
        ``model lj-energy 1 failed``."""
        if self.kind == "study.finished":
            tail = " with failures" if self.level == "error" else ""
            return f'study "{_one_line(self.study_name or "?")}" finished{tail}'
        if self.kind.startswith("model."):
            state = self.kind.removeprefix("model.")
            version = f" {_one_line(self.model_version)}" if self.model_version else ""
            return f"model {_one_line(self.model_name or '?')}{version} {_SAID.get(state, f'is {state}')}"
        state = self.kind.removeprefix("calculation.")
        said = _SAID.get(state, f"was {state}")
        name = f' "{_one_line(self.calculation_name)}"' if self.calculation_name else ""
        return f"calculation {self.calculation_id}{name} {said}"

    @property
    def what(self) -> str:
        """The subject and the message, on one line: ``calculation 12 "relax" failed: exit code 1``."""
        message = _one_line(self.message or "")
        if len(message) > WHAT_MESSAGE_CHARS:
            message = message[: WHAT_MESSAGE_CHARS - 1].rstrip() + "…"
        return f"{self.subject}: {message}" if message else self.subject


class NoticePage(BaseModel):
    """Notices newest first; ``older`` is the ``before`` of the next page, when there is one."""

    items: list[Notice]
    #: How many of the user's notices are unread (all of them, not only this page's).
    unread: int
    older: int | None = None


class MarkRead(Strict):
    """Which notices to mark read: ``ids`` (the user's own; others' are ignored) or ``all``."""

    ids: list[Id] = Field(default_factory=list, max_length=MAX_MARK)
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> MarkRead:
        if self.all == bool(self.ids):
            raise ValueError("name the notices to mark read (ids) or all of them (all: true), not both")
        return self


class Marked(BaseModel):
    """How many notices were marked read now, and how many are still unread."""

    marked: int
    unread: int


def _one_line(text: str) -> str:
    """``text`` without control characters, its whitespace (line breaks too) one space."""
    return " ".join("".join(c for c in text if c.isprintable() or c.isspace()).split())
