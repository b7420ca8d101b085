"""The client's calls about served ML models: register, start, stop, watch, ask for predictions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calchub.client._base import BaseClient, segment
from calchub.client.errors import WaitTimeout
from calchub.contracts.models import Model, ModelList, ModelLogs, ModelPatch, ModelSpec, ModelWait, settled
from calchub.domain.models import ModelState
from calchub.models.package import pack, read_manifest


def _version(version: str | None) -> dict[str, str]:
    return {"version": version} if version else {}


class ModelsMixin(BaseClient):
    def models(self, project: str | None = None) -> list[Model]:
        """Every version of the models you see (of one project)."""
        params = {"project": project} if project else {}
        return ModelList.model_validate(self._call("GET", "/models", params=params).json()).items

    def model(self, name: str, version: str | None = None) -> Model:
        """One version of a model: the current one, unless ``version`` is given."""
        answer = self._call("GET", f"/models/{segment(name)}", params=_version(version))
        return Model.model_validate(answer.json())

    def model_versions(self, name: str) -> list[Model]:
        return ModelList.model_validate(self._call("GET", f"/models/{segment(name)}/versions").json()).items

    def register_model(self, source: Path | str | ModelSpec, project: str | None = None) -> Model:
        """Register a model version: a package folder (its ``calchub-model.yaml`` says how it runs),
        or a ``ModelSpec`` of a container model. ``project`` overrides the manifest's."""
        if isinstance(source, ModelSpec):
            spec = source if project is None else source.model_copy(update={"project": project})
            body = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
            return Model.model_validate(self._call("POST", "/models", json=body).json())
        folder = Path(source)
        read_manifest(folder)  # a bad manifest is told here, before the upload
        params = {"project": project} if project else {}
        headers = {"content-type": "application/zip"}
        answer = self._call("POST", "/models/package", content=pack(folder), params=params, headers=headers)
        return Model.model_validate(answer.json())

    def start_model(self, name: str, version: str | None = None) -> Model:
        answer = self._call("POST", f"/models/{segment(name)}/start", params=_version(version))
        return Model.model_validate(answer.json())

    def stop_model(self, name: str, version: str | None = None) -> Model:
        answer = self._call("POST", f"/models/{segment(name)}/stop", params=_version(version))
        return Model.model_validate(answer.json())

    def update_model(self, name: str, version: str, **fields: Any) -> Model:
        """``description=`` and ``current=True`` (make this version the one invocations reach)."""
        body = ModelPatch.model_validate(fields).model_dump(mode="json", exclude_none=True)
        path = f"/models/{segment(name)}/versions/{segment(version)}"
        return Model.model_validate(self._call("PATCH", path, json=body).json())

    def delete_model(self, name: str, version: str) -> None:
        """Delete a version (admins); it is stopped first if it runs."""
        self._call("DELETE", f"/models/{segment(name)}/versions/{segment(version)}")

    def model_logs(self, name: str, version: str | None = None, offset: int | None = None) -> ModelLogs:
        """What the model printed: the tail, or from ``offset`` on."""
        params: dict[str, Any] = _version(version) | ({"offset": offset} if offset is not None else {})
        return ModelLogs.model_validate(
            self._call("GET", f"/models/{segment(name)}/logs", params=params).json()
        )

    def wait_model(
        self,
        name: str,
        version: str | None = None,
        *,
        timeout: float = 300.0,
        until: frozenset[ModelState] | None = None,
        progress: Callable[[Model], None] | None = None,
    ) -> Model:
        """The model once it is healthy (started) or stopped (stopped), or failed; or once it is
        in one of the states ``until``. ``progress`` sees each state it passes through."""
        deadline = time.monotonic() + timeout
        model = self.model(name, version)
        while True:
            if progress is not None:
                progress(model)
            if settled(model) if until is None else model.state in until:
                return model
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"{name} is still {model.state.value} after {timeout:g} s", [model.id])
            # Held by the server until the state changes (or the wait is over): no polling.
            ask = ModelWait(version=version, timeout=min(left, 30.0), until=sorted(until) if until else None)
            ask.changed_from = model.state
            body = ask.model_dump(mode="json", exclude_none=True)
            answer = self._call("POST", f"/models/{segment(name)}/wait", json=body, timeout=ask.timeout + 30)
            model = Model.model_validate(answer.json())

    def predict(
        self,
        name: str,
        data: Any = None,
        *,
        version: str | None = None,
        csv: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Ask a model: ``data`` goes as JSON (``{"instances": [[...], ...]}``) and the answer is
        decoded; or ``csv=`` text goes as text/csv and the answer's text comes back."""
        path = f"/models/{segment(name)}"
        path += f"/versions/{segment(version)}/invocations" if version else "/invocations"
        if csv is not None:
            answer = self._call(
                "POST", path, content=csv.encode(), headers={"content-type": "text/csv"}, timeout=timeout
            )
            return answer.text
        body = json.dumps(data).encode()
        answer = self._call(
            "POST", path, content=body, headers={"content-type": "application/json"}, timeout=timeout
        )
        return answer.json() if "json" in answer.headers.get("content-type", "") else answer.text
