"""The client's calls about studies: sweeps, pipelines, and the studies that group them."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from calchub.client._base import BaseClient
from calchub.contracts.calculations import CalculationCreate
from calchub.contracts.studies import (
    PipelineSpec,
    SpaceSpec,
    Study,
    StudyCancelled,
    StudyCreate,
    StudyCreated,
    StudyList,
)


class StudiesMixin(BaseClient):
    def create_study(
        self,
        study: str,
        *,
        description: str = "",
        project: str | None = None,
        template: CalculationCreate | Mapping[str, Any] | None = None,
        pipeline: PipelineSpec | Mapping[str, Any] | None = None,
        space: SpaceSpec | Mapping[str, Any] | None = None,
    ) -> StudyCreated:
        """Make a study: a ``template`` run at every point of ``space`` (a sweep), a ``pipeline``
        run once or at every point of ``space``, or an empty one that calculations join by
        naming it. All its calculations are created, or none."""
        fields = {"template": template, "pipeline": pipeline, "space": space, "project": project}
        body = StudyCreate.model_validate(
            {"study": study, "description": description} | {k: v for k, v in fields.items() if v is not None}
        )
        response = self._call(
            "POST", "/studies", json=body.model_dump(mode="json", exclude_unset=True, by_alias=True)
        )
        return StudyCreated.model_validate(response.json())

    def sweep(
        self,
        study: str,
        template: CalculationCreate | Mapping[str, Any],
        *,
        product: Sequence[Mapping[str, Any]] = (),
        points: Sequence[Mapping[str, Any]] | None = None,
        description: str = "",
    ) -> StudyCreated:
        """Run a typed ``template`` at every point of a space, as the study ``study``: a
        ``product`` of axes (``{"input": "v", "values": [...]}``, ``{"input": "t", "range":
        {"start": 0, "stop": 1, "step": 0.25}}``, ``{"zip": {"a": [...], "b": [...]}}``) or
        explicit ``points``. All the calculations are created, or none."""
        space: dict[str, Any] = {"points": list(points)} if points is not None else {"product": list(product)}
        return self.create_study(study, description=description, template=template, space=space)

    def studies(self, project: str | None = None) -> builtins.list[Study]:
        """The studies you see, newest first, each with its calculations counted by state."""
        params = {"project": project} if project else {}
        return StudyList.model_validate(self._call("GET", "/studies", params=params).json()).items

    def study(self, study: int | str, project: str | None = None) -> Study:
        """One study, by id or by name (in ``project``, your personal one by default)."""
        if isinstance(study, int):
            return Study.model_validate(self._call("GET", f"/studies/{study}").json())
        params = {"name": study} | ({"project": project} if project else {})
        return StudyList.model_validate(self._call("GET", "/studies", params=params).json()).items[0]

    def describe_study(self, study_id: int, description: str) -> Study:
        response = self._call("PATCH", f"/studies/{study_id}", json={"description": description})
        return Study.model_validate(response.json())

    def cancel_study(self, study_id: int, reason: str | None = None) -> StudyCancelled:
        """Cancel the study's unfinished calculations (those you may cancel)."""
        body = {"reason": reason} if reason else None
        return StudyCancelled.model_validate(
            self._call("POST", f"/studies/{study_id}/cancel", json=body).json()
        )
