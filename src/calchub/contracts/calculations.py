"""What users send and receive about calculations."""

from __future__ import annotations

import base64
import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calchub.domain.resources import parse_memory, parse_walltime
from calchub.domain.states import State

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
#: The largest id or attempt number the database stores (a 32-bit INTEGER on PostgreSQL).
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Attempt = Annotated[int, Field(ge=0, le=MAX_ID)]
MAX_INPUT_FILE_BYTES = 16 * 1024 * 1024


def check_relative_path(path: str) -> str:
    """A path inside a work folder: relative, no ``..``, no odd characters."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise ValueError(f"{path!r} must be a relative path inside the work folder, without '..'")
    if re.search(r"[\x00-\x1f]", path):
        raise ValueError(f"{path!r} contains control characters")
    return str(pure)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


SCHEDULER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
#: An email address: nothing a header or a command line would read as more than one.
EMAIL = r"^[^@\s,;'\"`$<>]{1,64}@[A-Za-z0-9.-]{1,255}$"
MailType = Literal["NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "TIME_LIMIT", "ARRAY_TASKS"]


class Resources(Strict):
    cores: int = Field(1, ge=1, le=4096, description="CPU cores (per task on a batch scheduler)")
    gpus: int = Field(0, ge=0, le=64)
    nodes: int = Field(1, ge=1, le=10_000, description="nodes (batch schedulers)")
    tasks: int = Field(1, ge=1, le=1_000_000, description="tasks, such as MPI ranks (batch schedulers)")
    memory_per: Literal["job", "cpu"] = Field("job", description="memory is for the whole job, or per CPU")
    partition: Annotated[str | None, Field(pattern=SCHEDULER_NAME)] = None
    qos: Annotated[str | None, Field(pattern=SCHEDULER_NAME)] = None
    account: Annotated[str | None, Field(pattern=SCHEDULER_NAME)] = None
    mail_user: Annotated[str | None, Field(pattern=EMAIL)] = None
    mail_type: list[MailType] = Field(default_factory=list, max_length=8)

    def scheduler_fields(self) -> dict[str, Any]:
        """What only a batch scheduler reads, as stored beside the common columns."""
        return self.model_dump(exclude={"cores", "gpus", "memory", "walltime"}, exclude_defaults=True)

    memory: int | None = Field(None, ge=1, description="bytes; '2G' and '512M' are accepted")
    walltime: int | None = Field(
        None, ge=1, le=MAX_ID, description="seconds; '[D-][HH:]MM:SS' is accepted; killed when it runs over"
    )

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: object) -> object:
        return parse_memory(value) if isinstance(value, str) else value

    @field_validator("walltime", mode="before")
    @classmethod
    def _walltime(cls, value: object) -> object:
        return parse_walltime(value) if isinstance(value, str) else value


class InputFile(Strict):
    path: str = Field(description="where the file is placed in the work folder")
    content: str
    encoding: Literal["utf-8", "base64"] = "utf-8"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_relative_path(value)

    def data(self) -> bytes:
        if self.encoding == "base64":
            return base64.b64decode(self.content, validate=True)
        return self.content.encode()


Label = Annotated[str, Field(pattern=NAME)]
#: A project as a calculation names it: a project's name, or ``~username`` for a personal one.
ProjectRef = Annotated[str, Field(pattern=r"^~?[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]


#: A dotted input name (``kwargs.points`` reaches into the object ``kwargs``).
InputPath = Annotated[
    str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$", max_length=200)
]
ResultName = Annotated[str, Field(min_length=1, max_length=100)]


class FileFrom(Strict):
    """A file of a parent's work folder (one it kept) placed in the child's, under ``as`` if given."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    path: str
    as_: str | None = Field(None, alias="as")

    @field_validator("path", "as_")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "*?["):
            raise ValueError(f"{value!r}: name one file, not a pattern")
        return None if value is None else check_relative_path(value)

    @property
    def target(self) -> str:
        return self.as_ or self.path


class Parent(Strict):
    """A calculation this one waits for, and what flows from it.

    The parent is an existing ``calculation`` (by id) or another ``step`` of the same request.
    ``files`` are copied (linked when they share a filesystem) into this one's work folder;
    ``results`` maps this one's inputs (dotted names) to the parent's extracted results.
    """

    calculation: Id | None = None
    step: Label | None = None
    files: list[FileFrom] = Field(default_factory=list, max_length=100)
    results: dict[InputPath, ResultName] = Field(default_factory=dict)

    @field_validator("files", mode="before")
    @classmethod
    def _file_names(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _one_parent(self) -> Parent:
        if (self.calculation is None) == (self.step is None):
            raise ValueError("a parent is an existing calculation (by id) or a step of the same request")
        return self

    @property
    def ref(self) -> str:
        return f"calculation {self.calculation}" if self.calculation is not None else f"step {self.step!r}"


class CalculationCreate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] = "calculation"
    cluster: Annotated[str, Field(pattern=NAME)] = "local"
    type: Annotated[
        str | None, Field(max_length=100, description="a calculation type (`calchub types ls`)")
    ] = None
    inputs: dict[str, Any] = Field(default_factory=dict, description="the type's inputs (its JSON Schema)")
    analyses: list[Annotated[str, Field(max_length=100)]] | None = Field(
        None, max_length=100, description="the type's analyses to run; its defaults when unset"
    )
    command: list[Annotated[str, Field(max_length=100_000)]] | None = Field(
        None, min_length=1, description="the command to run; a typed calculation gets it from its type"
    )
    project: ProjectRef | None = Field(None, description="your personal project (~username) when unset")
    study: Label | None = None
    env: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = {}
    files: list[InputFile] = Field(default_factory=list, max_length=1000)
    outputs: list[str] = Field(
        default_factory=list, max_length=100, description="glob patterns of files to keep"
    )
    resources: Resources = Field(default_factory=lambda: Resources())
    priority: int = Field(0, ge=-1000, le=1000, description="higher runs first")
    max_attempts: int = Field(2, ge=1, le=20, description="attempts allowed when a run is lost")
    notify: list[Annotated[str, Field(pattern=EMAIL)]] = Field(
        default_factory=list, max_length=10, description="more addresses told when it ends"
    )
    step: Label | None = Field(None, description="its name within a request, for the others' `after`")
    after: list[Parent] = Field(
        default_factory=list,
        max_length=100,
        description="calculations it waits for (it is `waiting` until each has completed), "
        "and the files and results it takes from them",
    )

    @model_validator(mode="after")
    def _command_or_type(self) -> CalculationCreate:
        if any(p.results for p in self.after) and self.type is None:
            raise ValueError("results from a parent fill a type's inputs; give this calculation a type")
        if self.type is None and not self.command:
            raise ValueError("give a command to run, or a calculation type with its inputs")
        if self.type is not None and self.command:
            raise ValueError(f"a {self.type!r} calculation gets its command from its type; leave out command")
        if self.type is None and (self.inputs or self.analyses is not None):
            raise ValueError("inputs and analyses belong to a calculation type; give type as well")
        return self

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, value: list[str]) -> list[str]:
        return [check_relative_path(pattern) for pattern in value]

    @field_validator("files")
    @classmethod
    def _files(cls, value: list[InputFile]) -> list[InputFile]:
        seen: set[str] = set()
        for item in value:
            if item.path in seen:
                raise ValueError(f"input file {item.path!r} is given twice")
            seen.add(item.path)
        return value


#: The most calculations one request makes.
MAX_BATCH = 10_000


class CalculationBatch(Strict):
    calculations: Annotated[list[CalculationCreate], Field(min_length=1, max_length=MAX_BATCH)]


class FileInfo(BaseModel):
    path: str
    kind: Literal["input", "output"]
    size: int
    sha256: str


class Provenance(BaseModel):
    command: list[str] = []
    calchub_version: str | None = None
    agent_version: str | None = None
    agent: str | None = None
    host: str | None = None
    workdir: str | None = None
    scheduler_id: str | None = None
    executor: str | None = None


class Calculation(BaseModel):
    id: int
    name: str
    owner: str
    cluster: str
    state: State
    command: list[str]
    env: dict[str, str]
    outputs: list[str]
    resources: Resources
    priority: int
    attempt: int
    max_attempts: int
    exit_code: int | None = None
    message: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    provenance: Provenance
    files: list[FileInfo] = []
    type: str | None = None
    type_version: str | None = None
    inputs: dict[str, Any] | None = None
    analyses: list[str] | None = None
    project: str | None = None
    study: str | None = None
    favorite: bool = False
    bytes_freed: int | None = None
    step: str | None = None
    notify: list[str] = []
    #: The calculations it waits for (shown on its own page; lists leave it empty).
    parents: list[int] = []


class CalculationUpdate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    priority: int | None = Field(
        None, ge=-1000, le=1000, description="within the project's range; moderators may go beyond it"
    )


class CalculationPage(BaseModel):
    items: list[Calculation]
    next_cursor: str | None = None


class Event(BaseModel):
    id: int
    at: datetime
    attempt: int
    from_state: State | None
    to_state: State
    actor: str
    message: str | None = None


SortKey = Literal["id", "-id", "created", "-created", "priority", "-priority", "name", "-name"]


class Preview(BaseModel):
    """What a submission would create: nothing is stored (``calchub submit --dry-run``)."""

    calculation: Calculation
    files: list[str] = Field(description="the files its work folder would start with")
    script: str | None = Field(None, description="the batch script, on a batch cluster")
