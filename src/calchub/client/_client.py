"""Client: the one way to speak to a calchub server from Python, the CLI and notebooks."""

from __future__ import annotations

import base64
import builtins
import importlib
import importlib.util
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from calchub.client._activity import ActivityMixin
from calchub.client._load import LoadMixin
from calchub.client._models import ModelsMixin
from calchub.client._people import PeopleMixin
from calchub.client._projects import ProjectsMixin
from calchub.client._studies import StudiesMixin
from calchub.client.errors import ServerUnreachable, WaitTimeout, raise_for
from calchub.contracts.calctypes import CalcTypeInfo, CalcTypeList
from calchub.contracts.calculations import (
    Calculation,
    CalculationCreate,
    CalculationPage,
    Event,
    FileInfo,
    InputFile,
    Preview,
)
from calchub.contracts.clusters import AgentKey, AgentKeyIssued, Cluster, ClusterCreate, SlurmSettings
from calchub.contracts.results import CalculationResults, ResultsTable

FileSource = str | bytes | Path
#: Called with (finished so far, total) while waiting, and (bytes so far, total or None) while downloading.
Progress = Callable[[int, int | None], None]


class Client(PeopleMixin, ProjectsMixin, StudiesMixin, ActivityMixin, LoadMixin, ModelsMixin):
    """A calchub server, reached over HTTP.

    ``Client()`` finds the server the way the CLI does: ``CALCHUB_URL`` and
    ``CALCHUB_TOKEN``, else the credentials ``calchub up`` saved under
    ``CALCHUB_HOME``. Its calls about people are in ``PeopleMixin``, about
    projects and reviews in ``ProjectsMixin``.
    """

    # -- calculations --------------------------------------------------------

    def submit(
        self,
        command: Sequence[str] | CalculationCreate | Mapping[str, Any] | None = None,
        *,
        files: Mapping[str, FileSource] | None = None,
        **fields: Any,
    ) -> Calculation:
        """Submit one calculation: a command (argv list), or ``type=`` and ``inputs=``,
        with any other fields of ``CalculationCreate``.

        ``client.submit(type="bumps", inputs={"fit": "lm"}, files={"model.py": Path("model.py")})``
        """
        body = _request(command, files, fields)
        return Calculation.model_validate(self._call("POST", "/calculations", json=body).json())

    def submit_many(
        self, requests: Iterable[Sequence[str] | CalculationCreate | Mapping[str, Any]]
    ) -> builtins.list[Calculation]:
        """Submit many in one transaction: all are created, or none."""
        body = {"calculations": [_request(r, None, {}) for r in requests]}
        response = self._call("POST", "/calculations/batch", json=body)
        return [Calculation.model_validate(c) for c in response.json()]

    def preview(
        self,
        command: Sequence[str] | CalculationCreate | Mapping[str, Any] | None = None,
        *,
        files: Mapping[str, FileSource] | None = None,
        **fields: Any,
    ) -> Preview:
        """What ``submit`` would create, with its batch script, without creating anything."""
        body = _request(command, files, fields)
        return Preview.model_validate(self._call("POST", "/calculations/preview", json=body).json())

    def script(self, calc_id: int) -> str:
        """The sbatch script of a calculation on a Slurm cluster, as its agent submits it."""
        return self._call("GET", f"/calculations/{calc_id}/script").text

    def get(self, calc_id: int) -> Calculation:
        return Calculation.model_validate(self._call("GET", f"/calculations/{calc_id}").json())

    def page(self, **filters: Any) -> CalculationPage:
        params = {k: v for k, v in filters.items() if v is not None}
        return CalculationPage.model_validate(self._call("GET", "/calculations", params=params).json())

    def iter(self, **filters: Any) -> Iterator[Calculation]:
        """Every calculation matching ``state``, ``cluster``, ``owner``, ``name``, ``project`` and
        ``favorite=True``, in ``sort`` order."""
        cursor = None
        while True:
            page = self.page(**filters, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def list(self, *, limit: int = 100, **filters: Any) -> builtins.list[Calculation]:
        found: builtins.list[Calculation] = []
        for calc in self.iter(**filters, limit=min(limit, 1000)):
            found.append(calc)
            if len(found) >= limit:
                break
        return found

    def wait(self, calc_id: int, timeout: float | None = None) -> Calculation:
        """Block until the calculation has finished (in any way) and return it."""
        return self.wait_all([calc_id], timeout)[0]

    def wait_all(
        self, ids: Sequence[int], timeout: float | None = None, progress: Progress | None = None
    ) -> builtins.list[Calculation]:
        """Block until all have finished; raise ``WaitTimeout`` naming those still running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pending, done = list(dict.fromkeys(ids)), {}
        while pending:
            left = 30.0 if deadline is None else max(0.0, min(30.0, deadline - time.monotonic()))
            body = {"ids": pending[:10_000], "timeout": left}
            for item in self._call("POST", "/calculations/wait", json=body, timeout=left + 30).json():
                done[item["id"]] = Calculation.model_validate(item)
            pending = [i for i in pending if i not in done]
            if progress:
                progress(len(done), len(done) + len(pending))
            if pending and deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"{len(pending)} calculation(s) still unfinished after {timeout} s", pending
                )
        return [done[i] for i in dict.fromkeys(ids)]

    def wait_some(self, ids: Sequence[int], timeout: float = 30.0) -> builtins.list[Calculation]:
        """Those of ``ids`` that have finished, once one has (or ``timeout`` seconds pass: none)."""
        body = {"ids": list(dict.fromkeys(ids))[:10_000], "timeout": timeout}
        found = self._call("POST", "/calculations/wait", json=body, timeout=timeout + 30).json()
        return [Calculation.model_validate(item) for item in found]

    def cancel(self, calc_id: int, reason: str | None = None) -> Calculation:
        body = {"reason": reason} if reason else None
        return Calculation.model_validate(
            self._call("POST", f"/calculations/{calc_id}/cancel", json=body).json()
        )

    def retry(self, calc_id: int) -> Calculation:
        """Run a failed, cancelled, invalid or lost calculation again, as its next attempt."""
        return Calculation.model_validate(self._call("POST", f"/calculations/{calc_id}/retry").json())

    def delete(self, calc_id: int) -> None:
        self._call("DELETE", f"/calculations/{calc_id}")

    def events(self, calc_id: int) -> builtins.list[Event]:
        return [Event.model_validate(e) for e in self._call("GET", f"/calculations/{calc_id}/events").json()]

    def logs(self, calc_id: int, stream: str = "stdout", attempt: int | None = None) -> str:
        params = {"stream": stream, "attempt": attempt} if attempt else {"stream": stream}
        return self._call("GET", f"/calculations/{calc_id}/logs", params=params).text

    def follow(self, calc_id: int, stream: str = "stdout") -> Iterator[str]:
        """Yield the log as it is written, until the calculation finishes."""
        params = {"stream": stream, "follow": "true"}
        try:
            with self._http.stream(
                "GET", f"/calculations/{calc_id}/logs", params=params, timeout=None
            ) as response:
                if not response.is_success:
                    response.read()
                    raise_for(response)
                yield from response.iter_text()
        except httpx.TransportError as error:
            raise ServerUnreachable(f"lost the log stream from {self.url}: {error}") from error

    def files(self, calc_id: int) -> builtins.list[FileInfo]:
        return [
            FileInfo.model_validate(f) for f in self._call("GET", f"/calculations/{calc_id}/files").json()
        ]

    def download(
        self,
        calc_id: int,
        dest: str | Path,
        path: str | None = None,
        *,
        kind: str = "output",
        progress: Progress | None = None,
    ) -> Path:
        """One file (``path``) or, without ``path``, every file as a zip; returns what was written."""
        dest = Path(dest)
        if path is None:
            url, params = f"/calculations/{calc_id}/archive", {}
            target = dest / f"calc-{calc_id}.zip" if dest.is_dir() else dest
        else:
            url, params = f"/calculations/{calc_id}/files/{path}", {"kind": kind}
            target = dest / Path(path).name if dest.is_dir() else dest
        return self._fetch(url, params, target, progress)

    def _fetch(self, url: str, params: dict[str, str], target: Path, progress: Progress | None) -> Path:
        tmp = target.with_name(target.name + ".part")
        try:
            with self._http.stream("GET", url, params=params) as response:
                if not response.is_success:
                    response.read()
                    raise_for(response)
                total = (
                    int(response.headers["content-length"]) if "content-length" in response.headers else None
                )
                with tmp.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        if progress:
                            progress(out.tell(), total)
        except httpx.TransportError as error:
            tmp.unlink(missing_ok=True)
            raise ServerUnreachable(f"download from {self.url} broke off: {error}") from error
        tmp.replace(target)
        return target

    # -- calculation types and results ----------------------------------------

    def calctypes(self) -> CalcTypeList:
        """The calculation types the server knows (and any it refused, with why)."""
        return CalcTypeList.model_validate(self._call("GET", "/calctypes").json())

    def calctype(self, name: str) -> CalcTypeInfo:
        """One type: its input schema, uploads, analyses, what it keeps and cleans up."""
        return CalcTypeInfo.model_validate(self._call("GET", f"/calctypes/{name}").json())

    def results(self, calc_id: int) -> CalculationResults:
        """The scalars, tables and figures kept from one calculation."""
        return CalculationResults.model_validate(self._call("GET", f"/calculations/{calc_id}/results").json())

    def results_table(
        self,
        *,
        type: str | None = None,
        project: str | None = None,
        study: str | None = None,
        owner: str | None = None,
        state: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        as_frame: bool | None = None,
    ) -> Any:
        """One row per calculation, one column per result (or ``inputs.<name>``).

        A pandas DataFrame indexed by calculation id when pandas is installed (or
        ``as_frame=True``); otherwise a :class:`ResultsTable`.
        """
        params: dict[str, Any] = {"type": type, "project": project, "study": study, "owner": owner}
        params = {k: v for k, v in params.items() if v is not None}
        if state:
            params["state"] = list(state)
        if fields:
            params["fields"] = ",".join(fields)
        table = ResultsTable.model_validate(self._call("GET", "/results", params=params).json())
        return _as_frame(table) if _want_frame(as_frame) else table

    def results_csv(self, **filters: Any) -> str:
        """The results table as CSV text (units in the header, as ``name [unit]``)."""
        params = {k: v for k, v in filters.items() if v is not None}
        if isinstance(params.get("fields"), list | tuple):
            params["fields"] = ",".join(params["fields"])
        return self._call("GET", "/results", params={**params, "format": "csv"}).text

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health").json()
        return result

    # -- clusters --------------------------------------------------------------

    def clusters(self) -> builtins.list[Cluster]:
        return [Cluster.model_validate(c) for c in self._call("GET", "/clusters").json()]

    def cluster(self, name: str) -> Cluster:
        return Cluster.model_validate(self._call("GET", f"/clusters/{name}").json())

    def register_cluster(
        self,
        name: str,
        description: str = "",
        executor: str = "local",
        slurm: SlurmSettings | Mapping[str, Any] | None = None,
    ) -> Cluster:
        settings = SlurmSettings.model_validate(slurm) if slurm is not None else None
        body = ClusterCreate(name=name, description=description, executor=executor, slurm=settings)
        return Cluster.model_validate(
            self._call("POST", "/clusters", json=body.model_dump(mode="json")).json()
        )

    def configure_slurm(self, name: str, slurm: SlurmSettings | Mapping[str, Any]) -> Cluster:
        """Set how a cluster's agent drives Slurm (admins): partitions, account, QOS, directives, setup."""
        body = {"slurm": SlurmSettings.model_validate(slurm).model_dump(mode="json")}
        return Cluster.model_validate(self._call("PATCH", f"/clusters/{name}", json=body).json())

    def set_cluster_enabled(self, name: str, enabled: bool) -> Cluster:
        return Cluster.model_validate(
            self._call("PATCH", f"/clusters/{name}", json={"enabled": enabled}).json()
        )

    def issue_agent_key(self, cluster: str) -> AgentKeyIssued:
        return AgentKeyIssued.model_validate(self._call("POST", f"/clusters/{cluster}/keys").json())

    def agent_keys(self, cluster: str) -> builtins.list[AgentKey]:
        return [AgentKey.model_validate(k) for k in self._call("GET", f"/clusters/{cluster}/keys").json()]

    def revoke_agent_key(self, cluster: str, key_id: int) -> AgentKey:
        return AgentKey.model_validate(self._call("DELETE", f"/clusters/{cluster}/keys/{key_id}").json())

    def rotate_key(self, cluster: str, key_id: int, grace_minutes: int = 0) -> AgentKeyIssued:
        """A new key in place of ``key_id``, which keeps working ``grace_minutes`` more, then stops."""
        path = f"/clusters/{cluster}/keys/{key_id}/rotate"
        return AgentKeyIssued.model_validate(
            self._call("POST", path, params={"grace_minutes": grace_minutes}).json()
        )


def _request(
    command: Sequence[str] | CalculationCreate | Mapping[str, Any] | None,
    files: Mapping[str, FileSource] | None,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    if isinstance(command, CalculationCreate):
        request = command
    elif command is None:
        request = CalculationCreate.model_validate(dict(fields))
    elif isinstance(command, Mapping):
        request = CalculationCreate.model_validate({**command, **fields})
    else:
        request = CalculationCreate.model_validate({"command": list(command), **fields})
    if files:
        request = request.model_copy(
            update={"files": [*request.files, *(_input(p, s) for p, s in files.items())]}
        )
    # Fields left unset stay out, so the server applies its own defaults (a project's priority).
    return request.model_dump(mode="json", exclude_unset=True)


def _want_frame(as_frame: bool | None) -> bool:
    if as_frame is not None:
        return as_frame
    return importlib.util.find_spec("pandas") is not None


def _as_frame(table: ResultsTable) -> Any:
    pandas = importlib.import_module("pandas")
    frame = pandas.DataFrame(table.rows, columns=table.columns).set_index("id")
    frame.attrs["units"] = table.units
    return frame


def _input(path: str, source: FileSource) -> InputFile:
    data = source.read_bytes() if isinstance(source, Path) else source
    if isinstance(data, str):
        return InputFile(path=path, content=data)
    try:
        return InputFile(path=path, content=data.decode())
    except UnicodeDecodeError:
        return InputFile(path=path, content=base64.b64encode(data).decode(), encoding="base64")
