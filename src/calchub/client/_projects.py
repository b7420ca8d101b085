"""The client's calls about projects (members, quotas, usage, webhooks) and reviewing their calculations."""

from __future__ import annotations

from typing import Any

from calchub.client._base import BaseClient, given, segment
from calchub.contracts.calculations import Calculation, CalculationUpdate
from calchub.contracts.projects import (
    Decision,
    Member,
    MemberSet,
    Project,
    ProjectCreate,
    ProjectUpdate,
    Rejection,
    Usage,
)
from calchub.contracts.webhooks import Webhook, WebhookCreate, WebhookCreated, WebhookLevel
from calchub.domain.permissions import ProjectRole


class ProjectsMixin(BaseClient):
    # -- projects --------------------------------------------------------------

    def projects(self) -> list[Project]:
        """Your projects (moderators and admins: every project)."""
        return [Project.model_validate(p) for p in self._call("GET", "/projects").json()]

    def create_project(self, name: str, **fields: Any) -> Project:
        """A project (admins), with any other field of ``ProjectCreate``: ``requires_approval=True``, ..."""
        body = ProjectCreate.model_validate({"name": name, **fields}).model_dump(mode="json")
        return Project.model_validate(self._call("POST", "/projects", json=body).json())

    def project(self, name: str) -> Project:
        """One project, by name or as ``~username`` for a personal one."""
        return Project.model_validate(self._call("GET", f"/projects/{segment(name)}").json())

    def update_project(self, name: str, **fields: Any) -> Project:
        """Change the fields of ``ProjectUpdate`` that are given; ``quotas`` replaces all limits."""
        body = given(ProjectUpdate.model_validate(fields))
        return Project.model_validate(self._call("PATCH", f"/projects/{segment(name)}", json=body).json())

    def delete_project(self, name: str) -> None:
        self._call("DELETE", f"/projects/{segment(name)}")

    def members(self, project: str) -> list[Member]:
        found = self._call("GET", f"/projects/{segment(project)}/members").json()
        return [Member.model_validate(m) for m in found]

    def add_member(self, project: str, username: str, role: ProjectRole | str = ProjectRole.MEMBER) -> Member:
        """Add a member, or change the role of one."""
        body = MemberSet(role=ProjectRole(role)).model_dump(mode="json")
        path = f"/projects/{segment(project)}/members/{segment(username)}"
        return Member.model_validate(self._call("PUT", path, json=body).json())

    def remove_member(self, project: str, username: str) -> None:
        self._call("DELETE", f"/projects/{segment(project)}/members/{segment(username)}")

    def usage(self, project: str) -> Usage:
        """What the project uses of each quota, and what is left."""
        return Usage.model_validate(self._call("GET", f"/projects/{segment(project)}/usage").json())

    def webhooks(self, project: str) -> list[Webhook]:
        """The URLs that receive the project's notices (without their secrets)."""
        found = self._call("GET", f"/projects/{segment(project)}/webhooks").json()
        return [Webhook.model_validate(h) for h in found]

    def add_webhook(
        self, project: str, url: str, level: WebhookLevel | str = WebhookLevel.INFO
    ) -> WebhookCreated:
        """A webhook for the project's notices (managers); keep ``.secret``: it is not shown again.

        ``level`` "info" sends every notice, "error" only failures.
        """
        body = WebhookCreate(url=url, level=WebhookLevel(level)).model_dump(mode="json")
        answer = self._call("POST", f"/projects/{segment(project)}/webhooks", json=body)
        return WebhookCreated.model_validate(answer.json())

    def remove_webhook(self, project: str, webhook_id: int) -> None:
        self._call("DELETE", f"/projects/{segment(project)}/webhooks/{int(webhook_id)}")

    # -- reviewing calculations -----------------------------------------------

    def update(self, calc_id: int, *, name: str | None = None, priority: int | None = None) -> Calculation:
        """Rename a calculation or change its priority (within its project's range, for non-moderators)."""
        body = given(CalculationUpdate(name=name, priority=priority))
        return Calculation.model_validate(self._call("PATCH", f"/calculations/{calc_id}", json=body).json())

    def approve(self, calc_id: int, comment: str | None = None) -> Calculation:
        """Let a calculation that waits for approval run (moderators)."""
        body = Decision(comment=comment).model_dump(mode="json")
        return Calculation.model_validate(
            self._call("POST", f"/calculations/{calc_id}/approve", json=body).json()
        )

    def reject(self, calc_id: int, comment: str) -> Calculation:
        """Refuse a calculation that waits for approval (moderators); the submitter reads the comment."""
        body = Rejection(comment=comment).model_dump(mode="json")
        return Calculation.model_validate(
            self._call("POST", f"/calculations/{calc_id}/reject", json=body).json()
        )

    def favorite(self, calc_id: int) -> None:
        """Mark a calculation as one of your favorites (``list(favorite=True)`` finds them)."""
        self._call("PUT", f"/calculations/{calc_id}/favorite")

    def unfavorite(self, calc_id: int) -> None:
        self._call("DELETE", f"/calculations/{calc_id}/favorite")
