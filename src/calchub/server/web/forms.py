"""A calculation type's input schema as form fields, a posted form back as inputs and
resources, and the place on the form of each problem a service names.

Pure functions: the schema the API serves (``GET /calctypes/{name}``) is the
one the form is made from, so forms and checks come from one place. Nested
objects become dotted names (``options.samples``); what the form cannot
parse is left for the server's own check, which names the field and rule.
Services name a problem by its field in the request (``inputs.seed``,
``files.model.py``, ``resources.walltime``, ``priority``); :class:`Slots`
turns that name into the id of the control that shows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from calchub.calctypes.paths import glob_match
from calchub.contracts.calctypes import AnalysisInfo, UploadInfo
from calchub.contracts.calculations import Resources
from calchub.contracts.clusters import Cluster


@dataclass
class Field:
    name: str
    label: str
    #: "number", "integer", "boolean", "choice", "json" (an object of free keys) or "text".
    kind: str
    default: Any = None
    help: str = ""
    required: bool = False
    choices: list[Any] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    #: Long text (a script): a text area rather than one line.
    multiline: bool = False

    @property
    def html_id(self) -> str:
        return "in-" + self.name.replace(".", "-")

    @property
    def shown(self) -> Any:
        """The default as the form shows it: JSON for objects and lists, nothing when unset."""
        if self.default is None:
            return ""
        return json.dumps(self.default) if self.kind == "json" else self.default


def fields(schema: Mapping[str, Any], prefix: str = "") -> list[Field]:
    return list(_walk(schema, prefix, set(schema.get("required", []))))


def _walk(schema: Mapping[str, Any], prefix: str, required: set[str]) -> Iterator[Field]:
    for key, spec in (schema.get("properties") or {}).items():
        name = f"{prefix}{key}"
        if spec.get("type") == "object" and "properties" in spec:
            yield from _walk(spec, f"{name}.", set(spec.get("required", [])))
            continue
        yield Field(
            name=name,
            label=spec.get("title") or key.replace("_", " "),
            kind=_kind(spec),
            default=spec.get("default"),
            help=spec.get("description", ""),
            required=key in required and "default" not in spec,
            choices=list(spec.get("enum", [])),
            minimum=spec.get("minimum", spec.get("exclusiveMinimum")),
            maximum=spec.get("maximum", spec.get("exclusiveMaximum")),
            multiline=spec.get("type") == "string" and spec.get("maxLength", 0) > 200,
        )


def _kind(spec: Mapping[str, Any]) -> str:
    if "enum" in spec:
        return "choice"
    kind = spec.get("type")
    if kind in ("object", "array"):
        return "json"
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return {"number": "number", "integer": "integer", "boolean": "boolean"}.get(str(kind), "text")


def inputs(schema: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """The inputs a form gives: only what was filled in (the type's defaults fill the rest);
    booleans as checkboxes; numbers parsed when they parse, else left as text for the check."""
    found: dict[str, Any] = {}
    for f in fields(schema):
        raw = form.get(f"inputs.{f.name}")
        if f.kind == "boolean":
            value: Any = raw is not None
            if not value and f.default is None:
                continue
        elif raw is None or raw.strip() == "":
            continue
        else:
            value = _parse(f, raw.strip())
        _put(found, f.name.split("."), value)
    return found


def _parse(f: Field, raw: str) -> Any:
    try:
        if f.kind == "integer":
            return int(raw)
        if f.kind == "number":
            return float(raw)
        if f.kind == "json":
            return json.loads(raw)
    except ValueError:
        return raw
    if f.kind == "choice":
        return next((c for c in f.choices if str(c) == raw), raw)
    return raw


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def values(found: Sequence[Field], form: Mapping[str, str] | None) -> dict[str, Any]:
    """What each field shows: the type's defaults on a fresh form (``None``), else what the
    form holds, where a boolean is on only if its box was ticked."""
    if form is None:
        return {f.name: bool(f.default) if f.kind == "boolean" else f.shown for f in found}
    return {
        f.name: f"inputs.{f.name}" in form if f.kind == "boolean" else form.get(f"inputs.{f.name}", "")
        for f in found
    }


def form_of_inputs(found: Sequence[Field], given: Mapping[str, Any]) -> dict[str, str]:
    """A calculation's inputs as the form's fields hold them (to submit a copy)."""
    form = {}
    for f in found:
        value: Any = given
        for key in f.name.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None or value is False:
            continue
        if f.kind == "boolean":
            form[f"inputs.{f.name}"] = "on"
        else:
            form[f"inputs.{f.name}"] = json.dumps(value) if f.kind == "json" else str(value)
    return form


# -- resources ----------------------------------------------------------------

RESOURCES = ("cores", "gpus", "memory", "walltime", "partition")


def resources(form: Mapping[str, str]) -> dict[str, str]:
    """The resources filled in (the type's defaults stand for the rest), as the API takes them:
    ``"2:00:00"`` or seconds for walltime, ``"2G"`` or bytes for memory."""
    filled = {key: form.get(f"resources.{key}", "").strip() for key in RESOURCES}
    return {key: value for key, value in filled.items() if value}


def resources_form(chosen: Resources) -> dict[str, str]:
    form = {"resources.cores": str(chosen.cores)}
    if chosen.gpus:
        form["resources.gpus"] = str(chosen.gpus)
    if chosen.memory is not None:
        form["resources.memory"] = memory_text(chosen.memory)
    if chosen.walltime is not None:
        form["resources.walltime"] = walltime_text(chosen.walltime)
    if chosen.partition:
        form["resources.partition"] = chosen.partition
    return form


def walltime_text(seconds: int) -> str:
    """Seconds as Slurm writes a time: ``1:30:00``, ``2-00:00:00``."""
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    if days:
        return f"{days}-{hour:02}:{minute:02}:{second:02}"
    return f"{hour}:{minute:02}:{second:02}"


def memory_text(count: int) -> str:
    """Bytes in the largest unit that divides them: ``2G``, ``512M``, ``1000``."""
    for unit, size in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if count % size == 0:
            return f"{count // size}{unit}"
    return str(count)


def resource_defaults(given: Mapping[str, Any]) -> dict[str, str]:
    """A type's default resources as the form's placeholders show them."""
    try:
        chosen = Resources.model_validate(given)
    except ValueError:  # a type's own resources are checked when it runs; the form just shows less
        return {}
    return {key.removeprefix("resources."): value for key, value in resources_form(chosen).items()}


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


def partition_choices(cluster: Cluster) -> list[Choice]:
    """The partitions a user of a Slurm cluster may pick, each with what ``sinfo`` last said of it:
    those its admin opened (all that ``sinfo`` shows when the admin named none)."""
    table = {p.name: p for p in cluster.partitions}
    opened = cluster.slurm.partitions if cluster.slurm else []
    default = cluster.slurm.default_partition if cluster.slurm else None
    choices = []
    for name in opened or list(table):
        facts = []
        if (row := table.get(name)) is not None:
            facts.append(f"{row.cpus_idle} of {row.cpus_total} CPUs idle")
            if row.gpus_total:
                facts.append(f"{row.gpus_idle} of {row.gpus_total} GPUs idle")
            facts.append(f"time limit {row.time_limit or 'none'}")
            facts.append(row.state)
        if name == default or (row is not None and row.default and default is None):
            facts.append("default")
        choices.append(Choice(name, name + (f" ({', '.join(facts)})" if facts else "")))
    return choices


# -- files and analyses -------------------------------------------------------


def upload_id(index: int) -> str:
    return f"up-{index}"


def upload_path(pattern: str, filename: str) -> str:
    """Where a file chosen for an upload goes: the upload's own path, or for a pattern
    (``*``, ``data/**``) the file's name in the pattern's folder."""
    if not any(c in pattern for c in "*?["):
        return pattern
    folder = []
    for part in pattern.split("/")[:-1]:
        if any(c in part for c in "*?["):
            break
        folder.append(part)
    return "/".join([*folder, filename.rsplit("/", 1)[-1]])


def analysis_needs(analyses: Sequence[AnalysisInfo]) -> dict[str, list[str]]:
    """For each analysis, the other analyses it needs (its other needs are extracted data)."""
    names = {a.name for a in analyses}
    return {a.name: [need for need in a.needs if need in names] for a in analyses}


# -- where problems are shown ----------------------------------------------------


@dataclass(frozen=True)
class Problem:
    #: The field the service named (``inputs.seed``), or "" for the whole request.
    key: str
    #: The id of the control (or group of controls) that shows it; None: only the summary does.
    target: str | None
    label: str
    message: str


#: Problem names that are not the type's: request field -> (id of its control, label).
FIXED = {
    "type": ("type", "Calculation type"),
    "name": ("name", "Name"),
    "cluster": ("cluster", "Cluster"),
    "project": ("project", "Project"),
    "priority": ("priority", "Priority"),
    "notify": ("notify", "Also e-mail"),
    "inputs": ("inputs", "Inputs"),
    "files": ("files", "Files"),
    "analyses": ("analyses", "Analyses"),
    "resources": ("resources", "Resources"),
    "resources.cores": ("cores", "Cores"),
    "resources.gpus": ("gpus", "GPUs"),
    "resources.memory": ("memory", "Memory"),
    "resources.walltime": ("walltime", "Walltime"),
    "resources.partition": ("partition", "Partition"),
}


@dataclass
class Slots:
    """Where on the form each problem goes, by the name of the field the service gave."""

    ids: dict[str, str]
    labels: dict[str, str]
    #: (upload pattern, id of its file field), most specific first.
    uploads: list[tuple[str, str]]

    def place(self, key: str) -> str | None:
        """The id of the control for ``key``: its own, its upload's, or its nearest parent's."""
        if key in self.ids:
            return self.ids[key]
        if key.startswith("files."):
            path = key.removeprefix("files.")
            found = next((html_id for pattern, html_id in self.uploads if glob_match(path, pattern)), None)
            return found or self.ids["files"]
        while "." in key:
            key = key.rsplit(".", 1)[0]
            if key in self.ids:
                return self.ids[key]
        return None

    def problems(self, found: Iterable[tuple[str, str]]) -> list[Problem]:
        placed = []
        for key, message in found:
            target = self.place(key)
            label = self.labels.get(target, key) if target else ""
            placed.append(Problem(key, target, label, message.removeprefix("Value error, ")))
        return placed

    @property
    def targets(self) -> set[str]:
        return set(self.labels)


def slots(found: Sequence[Field], uploads: Sequence[UploadInfo]) -> Slots:
    ids = {key: html_id for key, (html_id, _) in FIXED.items()}
    labels = {html_id: label for html_id, label in FIXED.values()}
    for f in found:
        ids[f"inputs.{f.name}"] = f.html_id
        labels[f.html_id] = f.label
    patterns = []
    for index, upload in enumerate(uploads, 1):
        ids[f"files.{upload.path}"] = upload_id(index)
        labels[upload_id(index)] = upload.path
        patterns.append((upload.path, upload_id(index)))
    patterns.sort(key=lambda p: (any(c in p[0] for c in "*?["), -len(p[0])))
    return Slots(ids, labels, patterns)


def by_target(problems: Iterable[Problem]) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {}
    for problem in problems:
        if problem.target:
            shown.setdefault(problem.target, []).append(problem.message)
    return shown
