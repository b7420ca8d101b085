"""ML models on the wire: a model package's manifest, and the registry's records.

A model package is a folder that serves ``GET /ping`` (200 once loaded) and
``POST /invocations`` (inputs in, predictions out) on the port in ``$PORT``: the
contract of SageMaker's bring-your-own-container, so the same package also runs
there. Its manifest, ``calchub-model.yaml``, says how to run it::

    name: lj-energy
    version: "1"
    description: potential energy per atom of a Lennard-Jones liquid
    runtime: process            # or container (then: image: ...)
    command: [python, serve.py] # run in the package folder; "python" is the model's Python
    python: server              # or venv: its own environment, from requirements.txt
    inputs: {columns: [temperature, density]}
    outputs: {columns: [energy]}
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator

from calchub.contracts.calculations import Label, ProjectRef, Strict
from calchub.domain.models import ModelState
from calchub.domain.resources import parse_memory

#: The manifest's file name inside a package.
MANIFEST = "calchub-model.yaml"
#: The largest package (zipped) the server takes.
MAX_PACKAGE_BYTES = 256 * 1024 * 1024
#: The largest request body the inference proxy forwards (SageMaker's own limit is 6 MB).
MAX_INVOCATION_BYTES = 16 * 1024 * 1024
VersionName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,39}$")]


class Runtime(StrEnum):
    #: A command started by calchub on a port it assigns.
    PROCESS = "process"
    #: An image run through a Docker engine.
    CONTAINER = "container"


class Python(StrEnum):
    #: The server's own interpreter and packages.
    SERVER = "server"
    #: A virtual environment of the package's own, built from its requirements.txt.
    VENV = "venv"


class ModelResources(Strict):
    cpus: float | None = Field(None, gt=0, le=1024, description="a container's CPU limit")
    memory: int | None = Field(None, ge=1, description="bytes; '2G' and '512M' are accepted")
    gpus: int = Field(0, ge=0, le=64)

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: object) -> object:
        return parse_memory(value) if isinstance(value, str) else value


class ModelIO(Strict):
    """What goes in or comes out: named columns, a JSON Schema, an example, in words."""

    description: str | None = Field(None, max_length=2000)
    columns: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(None, max_length=1000)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    example: Any = None

    model_config = {"extra": "forbid", "populate_by_name": True}


class ModelSpec(Strict):
    """How to run a model version: the manifest, and the registration body."""

    name: Label
    version: VersionName
    description: str = Field("", max_length=5000)
    project: ProjectRef | None = Field(
        None, description="where it is registered; your personal project if left out"
    )
    runtime: Runtime = Runtime.PROCESS
    command: list[Annotated[str, Field(min_length=1, max_length=4000)]] = Field(
        default_factory=lambda: ["python", "serve.py"],
        min_length=1,
        max_length=100,
        description="process runtime: run in the package folder with $PORT set ('python': the model's)",
    )
    python: Python = Python.SERVER
    image: str | None = Field(None, max_length=500, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
    env: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], Annotated[str, Field(max_length=4000)]
    ] = Field(default_factory=dict, max_length=100)
    resources: ModelResources = Field(default_factory=ModelResources)
    inputs: ModelIO | None = None
    outputs: ModelIO | None = None
    start_seconds: float = Field(
        120.0, gt=0, le=3600, description="how long a start may take to answer /ping"
    )
    timeout_seconds: float = Field(60.0, gt=0, le=3600, description="how long one invocation may take")
    current: bool = Field(True, description="make this version the one /models/{name}/invocations reaches")

    @model_validator(mode="after")
    def _runnable(self) -> ModelSpec:
        if self.runtime is Runtime.CONTAINER and not self.image:
            raise ValueError("a container model names its image (image: registry/name:tag)")
        if self.runtime is Runtime.PROCESS and self.image:
            raise ValueError("a process model runs its command; 'image' is for runtime: container")
        return self


class Model(BaseModel):
    """A registered model version, and how it is doing."""

    id: int
    name: str
    version: str
    description: str
    project: str
    owner: str
    runtime: Runtime
    command: list[str]
    python: Python
    image: str | None
    env: dict[str, str]
    resources: ModelResources
    inputs: ModelIO | None
    outputs: ModelIO | None
    start_seconds: float
    timeout_seconds: float
    current: bool
    #: Whether someone asked for it to run.
    wanted: bool
    state: ModelState
    message: str | None
    #: Where it runs: the runtime's host and the process id (or container id).
    host: str | None
    pid: str | None
    port: int | None
    restarts: int
    failures: int
    started_at: datetime | None
    last_ping_at: datetime | None
    last_healthy_at: datetime | None
    package_bytes: int | None
    package_sha256: str | None
    created_at: datetime


def settled(model: Model) -> bool:
    """Whether the runtime has done what was asked: a wanted model healthy (or failed), an
    unwanted one stopped."""
    if model.state is ModelState.FAILED:
        return True
    return model.state is (ModelState.HEALTHY if model.wanted else ModelState.STOPPED)


class ModelWait(Strict):
    """Hold the request until the model has settled (or is in one of ``until``), or its state
    is no longer ``changed_from``; at most ``timeout`` seconds."""

    version: VersionName | None = None
    timeout: float = Field(30.0, ge=0, le=300)
    until: list[ModelState] | None = Field(
        None, max_length=5, description="these states; settled if left out"
    )
    changed_from: ModelState | None = Field(None, description="also answer once the state is another")

    def done(self, model: Model) -> bool:
        if self.changed_from is not None and model.state is not self.changed_from:
            return True
        return settled(model) if self.until is None else model.state in self.until


class ModelList(BaseModel):
    items: list[Model]


class ModelPatch(Strict):
    description: str | None = Field(None, max_length=5000)
    current: bool | None = Field(None, description="true makes this version the current one")


class ModelLogs(BaseModel):
    text: str
    #: The log's size, so that a follower asks for what came after (``offset``).
    size: int
