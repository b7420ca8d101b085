"""The model registry: versions registered, listed, started, stopped, described and deleted.

A model's name is the server's (``/models/{name}/invocations`` needs no project), and it
belongs to the project of its first version; later versions go to the same project. One
version per name is current. Starting and stopping only say what is wanted (and wake
``models``): the runtime (``services.model_supervisor``) does it. A package is checked and
unpacked before anything is written, and into its own folder only once the row exists.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from calchub.contracts import models as wire
from calchub.domain.models import ModelState
from calchub.domain.permissions import Action, may_change_model
from calchub.models.package import PackageError, unpack
from calchub.server.db.tables import ModelVersion, Project
from calchub.server.repositories import models as repo
from calchub.server.services.auth import Caller
from calchub.server.services.errors import Conflict, Forbidden, Invalid, NotFound
from calchub.server.services.projects import for_submission
from calchub.server.services.unit import wake
from calchub.server.storage import Store

#: The wake-up of every change to what models are wanted, or how they are.
MODELS = "models"
#: What the manifest says of how to run a model, kept in ``models.spec``.
RUNNING_PART = {
    "command",
    "python",
    "image",
    "env",
    "resources",
    "inputs",
    "outputs",
    "start_seconds",
    "timeout_seconds",
}


def folder(store: Store, model_id: int) -> Path:
    """Where a version's package and log live in the artifact store."""
    return store.root / "models" / str(model_id)


def package_folder(store: Store, model_id: int) -> Path:
    return folder(store, model_id) / "package"


def log_path(store: Store, model_id: int) -> Path:
    return folder(store, model_id) / "model.log"


def spec_of(model: ModelVersion) -> wire.ModelSpec:
    return wire.ModelSpec.model_validate(
        {**model.spec, "name": model.name, "version": model.version, "runtime": model.runtime}
    )


def to_wire(model: ModelVersion, project: str, owner: str) -> wire.Model:
    spec = spec_of(model)
    return wire.Model(
        id=model.id,
        name=model.name,
        version=model.version,
        description=model.description,
        project=project,
        owner=owner,
        runtime=spec.runtime,
        command=spec.command,
        python=spec.python,
        image=spec.image,
        env=spec.env,
        resources=spec.resources,
        inputs=spec.inputs,
        outputs=spec.outputs,
        start_seconds=spec.start_seconds,
        timeout_seconds=spec.timeout_seconds,
        current=model.current,
        wanted=model.wanted,
        state=ModelState(model.state),
        message=model.message,
        host=model.host,
        pid=model.pid,
        port=model.port,
        restarts=model.restarts,
        failures=model.failures,
        started_at=model.started_at,
        last_ping_at=model.last_ping_at,
        last_healthy_at=model.last_healthy_at,
        package_bytes=model.package_bytes,
        package_sha256=model.package_sha256,
        created_at=model.created_at,
    )


def described(session: Session, models: Collection[ModelVersion]) -> list[wire.Model]:
    projects = repo.project_names(session, {m.project_id for m in models})
    owners = repo.usernames(session, {m.owner_id for m in models})
    return [to_wire(m, projects[m.project_id], owners.get(m.owner_id, "?")) for m in models]


# -- registering ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """A package checked and unpacked into a folder of its own, waiting for its row."""

    spec: wire.ModelSpec
    unpacked: Path
    size: int
    sha256: str


def unpack_package(store: Store, data: bytes) -> Package:
    """Check and unpack a package (read within ``MAX_PACKAGE_BYTES``) where nothing reads it
    yet; 422 saying what is wrong."""
    incoming = store.root / "models" / ".incoming" / uuid.uuid4().hex
    try:
        spec = unpack(data, incoming)
    except PackageError as error:
        shutil.rmtree(incoming, ignore_errors=True)
        raise Invalid(str(error), "package") from error
    return Package(spec, incoming, len(data), hashlib.sha256(data).hexdigest())


def discard(package: Package | None) -> None:
    if package is not None:
        shutil.rmtree(package.unpacked, ignore_errors=True)


def register(
    session: Session,
    caller: Caller,
    spec: wire.ModelSpec,
    store: Store,
    runtimes: Collection[str],
    package: Package | None = None,
) -> wire.Model:
    """A new version of a model (of a new model, for its first), in its project."""
    if spec.runtime.value not in runtimes:
        allowed = ", ".join(sorted(runtimes)) or "none"
        raise Invalid(
            f"this server runs models of the runtimes {allowed}, not {spec.runtime.value}", "runtime"
        )
    if spec.runtime is wire.Runtime.PROCESS and package is None:
        raise Invalid("a process model comes with its package: `calchub model register FOLDER`", "package")
    earlier = repo.versions(session, spec.name)
    project = _project_for(session, caller, spec, earlier)
    if any(m.version == spec.version for m in earlier):
        raise Conflict(
            f"{spec.name} version {spec.version} is registered already; give the new one another version",
            "version",
        )
    model = ModelVersion(
        name=spec.name,
        version=spec.version,
        project_id=project.id,
        owner_id=caller.id,
        description=spec.description,
        runtime=spec.runtime.value,
        spec=spec.model_dump(mode="json", include=RUNNING_PART, by_alias=True),
        state=ModelState.STOPPED.value,
        package_bytes=package.size if package else None,
        package_sha256=package.sha256 if package else None,
    )
    repo.add(session, model)
    if spec.current or not earlier:
        repo.make_current(session, model)
    if package is not None:
        target = package_folder(store, model.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        package.unpacked.rename(target)
    wake(session, MODELS)
    return described(session, [model])[0]


def _project_for(
    session: Session, caller: Caller, spec: wire.ModelSpec, earlier: list[ModelVersion]
) -> Project:
    project = for_submission(session, caller, spec.project)
    if earlier:
        first = earlier[0]
        if first.project_id != project.id:
            names = repo.project_names(session, {first.project_id})
            where = names[first.project_id] if caller.sees(first.project_id) else "another project"
            raise Conflict(
                f"the name {spec.name!r} belongs to a model of {where}; choose another name", "name"
            )
        if not _may_change(caller, first):
            raise Forbidden(f"only {spec.name}'s owner, its project's managers and admins add versions")
    return project


# -- finding ----------------------------------------------------------------------------------


def listing(session: Session, caller: Caller, project: str | None = None) -> list[wire.Model]:
    ids = None if caller.sees_all else list(caller.projects)
    found = repo.listing(session, ids)
    if project is not None:
        named = repo.project_names(session, {m.project_id for m in found})
        found = [m for m in found if named[m.project_id] == project]
    return described(session, found)


def _named(session: Session, name: str, version: str | None) -> ModelVersion | None:
    """The version named, or the current one when ``version`` is None."""
    return repo.current(session, name) if version is None else repo.version(session, name, version)


def find(session: Session, caller: Caller, name: str, version: str | None = None) -> ModelVersion:
    """The version named (the current one when ``version`` is None), if the caller sees it."""
    model = _named(session, name, version)
    if model is None or not caller.sees(model.project_id):
        if (
            version is not None
            and repo.current(session, name) is not None
            and _sees_name(session, caller, name)
        ):
            raise NotFound(
                f"{name} has no version {version}; `calchub model show {name}` lists them", "version"
            )
        raise NotFound(f"no model named {name!r} that you can see; `calchub model ls` lists them", "name")
    return model


def _sees_name(session: Session, caller: Caller, name: str) -> bool:
    return any(caller.sees(m.project_id) for m in repo.versions(session, name))


@dataclass(frozen=True)
class Route:
    """Where the invocations of a model version go, and whether they may."""

    name: str
    version: str
    project_id: int
    state: ModelState
    message: str | None
    endpoint: str | None
    timeout: float


def route(session: Session, name: str, version: str | None) -> Route | None:
    """The version's route (the current version's for None); None if there is no such version."""
    model = _named(session, name, version)
    if model is None:
        return None
    timeout = float(model.spec["timeout_seconds"])
    state = ModelState(model.state)
    return Route(model.name, model.version, model.project_id, state, model.message, model.endpoint, timeout)


def show(session: Session, caller: Caller, name: str, version: str | None = None) -> wire.Model:
    return described(session, [find(session, caller, name, version)])[0]


def versions(session: Session, caller: Caller, name: str) -> list[wire.Model]:
    find(session, caller, name)
    return described(session, repo.versions(session, name))


# -- changing ---------------------------------------------------------------------------------


def _may_change(caller: Caller, model: ModelVersion) -> bool:
    return may_change_model(
        caller.role, owner=model.owner_id == caller.id, project_role=caller.projects.get(model.project_id)
    )


def changeable(session: Session, caller: Caller, ids: Collection[int]) -> set[int]:
    """The versions among ``ids`` the caller may start, stop and describe (the rule those apply)."""
    if not caller.may(Action.MODELS_WRITE):
        return set()
    return {m.id for m in repo.by_ids(session, ids) if _may_change(caller, m)}


def _changeable(session: Session, caller: Caller, name: str, version: str | None) -> ModelVersion:
    model = find(session, caller, name, version)
    if not _may_change(caller, model):
        raise Forbidden(f"only {name}'s owner, its project's managers and admins start, stop or change it")
    return model


def start(
    session: Session, caller: Caller, name: str, version: str | None, runtimes: Collection[str]
) -> wire.Model:
    """Ask for the version to run; a failed one is given a fresh count of failures."""
    model = _changeable(session, caller, name, version)
    if model.runtime not in runtimes:
        raise Conflict(
            f"this server no longer runs {model.runtime} models (CALCHUB_MODEL_RUNTIMES)", "runtime"
        )
    if not model.wanted or model.state == ModelState.FAILED:
        model.wanted = True
        model.failures = model.restarts = model.missed = 0
        model.next_start_at = None
        if model.state == ModelState.FAILED:
            model.state, model.message = ModelState.STOPPED.value, None
        wake(session, MODELS)
    session.flush()
    return described(session, [model])[0]


def stop(session: Session, caller: Caller, name: str, version: str | None) -> wire.Model:
    model = _changeable(session, caller, name, version)
    if model.wanted:
        model.wanted = False
        wake(session, MODELS)
    session.flush()
    return described(session, [model])[0]


def patch(session: Session, caller: Caller, name: str, version: str, request: wire.ModelPatch) -> wire.Model:
    model = _changeable(session, caller, name, version)
    if request.description is not None:
        model.description = request.description
    if request.current:
        repo.make_current(session, model)
    elif request.current is False and model.current:
        raise Conflict("a model has one current version: make another version current instead", "current")
    wake(session, MODELS)
    session.flush()
    return described(session, [model])[0]


def delete(session: Session, caller: Caller, name: str, version: str) -> int:
    """Delete a version (admins); the runtime stops it if it runs. Its id, for its files."""
    model = find(session, caller, name, version)
    if not caller.may(Action.MODELS_DELETE):
        raise Forbidden("only admins delete models; stop it instead, or ask an admin")
    if model.current and len(repo.versions(session, name)) > 1:
        raise Conflict(f"{name} {version} is the current version: make another current first", "version")
    model_id = model.id
    repo.remove(session, model)
    wake(session, MODELS)
    return model_id


def delete_files(store: Store, model_id: int) -> None:
    """A deleted version's package and log (after its row is gone for good)."""
    shutil.rmtree(folder(store, model_id), ignore_errors=True)


def read_log(store: Store, model_id: int, offset: int, limit: int) -> wire.ModelLogs:
    path = log_path(store, model_id)
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            start = max(0, size - limit) if offset < 0 else min(offset, size)
            log.seek(start)
            data = log.read(limit)
    except FileNotFoundError:
        return wire.ModelLogs(text="", size=0)
    return wire.ModelLogs(text=data.decode(errors="replace"), size=size)
