"""Pipeline files: a YAML graph of steps, read into the pipeline request the server takes.

A pipeline file (``calchub run pipeline.yaml``)::

    name: integrate-sine              # the study's name
    description: ...                  # optional
    cluster: local                    # optional, "local" by default
    project: null                     # optional
    parameters: {n: 201}              # optional: defaults a run may change (--set, a space)
    steps:
      table:
        type: python                  # a calculation type, or command: [...]
        inputs:
          code: {file: tabulate.py}   # that file's text (relative to the pipeline file)
          kwargs: {n: "${n}"}         # a parameter, written in by the server at each point
      integrate:
        type: python
        needs: [table]                # order without data
        files: [{from: table, path: table.csv}]      # optionally as: NAME
        inputs:
          kwargs: {rows: {from: table, result: rows}}  # a result of the parent

Each step becomes a :class:`CalculationCreate` with ``step`` (its key), ``name`` (its key by
default), the file's ``cluster`` and ``project``, and one :class:`Parent` per step it needs,
with the files and results that flow from it; a ``{from, result}`` reference leaves the
inputs (the server fills it in when the parent has completed). Its other keys (``env``,
``resources``, ``outputs``, ``priority``, ``max_attempts``, ``analyses``, ``command``) are
the calculation's own. ``${name}`` refers to a parameter in ``inputs`` and ``env`` (the server
writes them in there, and only there). A file's text is escaped (:func:`calchub.domain.pipelines.escape`), so
``${`` in a script reaches the run as it is.

Every refusal is a :class:`PipelineFileError` (a ``ValueError``), one line per problem:
``pipeline.yaml: steps.integrate.files[0]: no step named 'tabel'; the steps are: ...``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode

from calchub.contracts.calculations import (
    NAME,
    CalculationCreate,
    FileFrom,
    InputPath,
    Label,
    Parent,
    ProjectRef,
    ResultName,
    Strict,
)
from calchub.contracts.studies import PipelineSpec
from calchub.domain import graphs
from calchub.domain.pipelines import PipelineError, check_name, escape, references

TOP_KEYS = ("name", "description", "cluster", "project", "parameters", "steps")
#: A step's keys; the ones the loader does not read itself go to ``CalculationCreate`` as they are.
_OWN_KEYS = ("inputs", "needs", "files")
_PASSED_KEYS = ("outputs", "resources", "env", "priority", "max_attempts", "analyses")
STEP_KEYS = ("type", "command", "name", *_OWN_KEYS, *_PASSED_KEYS)
_NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters"
_LIST_REFERENCE = "a result can fill an input or a key of an object input, not an item of a list"
_Model = TypeVar("_Model", bound=BaseModel)


class PipelineFileError(ValueError):
    """A pipeline file (or a ``--set``) that cannot be run, each problem with where it is."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(": ".join(p for p in (source, *problem) if p) for problem in problems))

    @property
    def where(self) -> str:
        return self.problems[0][0]

    @property
    def message(self) -> str:
        return self.problems[0][1]


class _Header(Strict):
    name: Label
    description: Annotated[str, Field(max_length=10_000)] = ""
    cluster: Annotated[str, Field(pattern=NAME)] = "local"
    project: ProjectRef | None = None


class PipelineFile(_Header):
    """A pipeline file as read: the study's name and place, and the steps to submit."""

    spec: PipelineSpec


def load(path: Path) -> PipelineFile:
    """Read and check the pipeline file at ``path``; raises :class:`PipelineFileError`."""
    try:
        return _Reader(path).file()
    except _Refused as refused:
        raise PipelineFileError(str(path), refused.problems) from None


def with_sets(file: PipelineFile, sets: Iterable[str]) -> PipelineFile:
    """``file`` with parameters changed by ``--set name=value`` (the value read as YAML)."""
    parameters = dict(file.spec.parameters)
    for item in sets:
        name, equals, text = item.partition("=")
        name = name.strip()
        if not equals or not name:
            raise PipelineFileError(f"--set {item}", [("", "write --set NAME=VALUE")])
        if name not in parameters:
            raise PipelineFileError(f"--set {item}", [("", _undeclared(name, file.spec.parameters))])
        parameters[name] = _scalar(text)
    spec = file.spec.model_copy(update={"parameters": parameters})
    return file.model_copy(update={"spec": spec})


def with_cluster(file: PipelineFile, cluster: str) -> PipelineFile:
    """``file`` with every step sent to ``cluster`` (``--cluster``)."""
    if not re.fullmatch(NAME, cluster):
        raise PipelineFileError(f"--cluster {cluster}", [("", f"a cluster's name is {_NAME_RULE}")])
    steps = {key: step.model_copy(update={"cluster": cluster}) for key, step in file.spec.steps.items()}
    spec = file.spec.model_copy(update={"steps": steps})
    return file.model_copy(update={"cluster": cluster, "spec": spec})


class _Refused(Exception):
    def __init__(self, where: str, message: str, more: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = [(where, message), *(more or [])]


@dataclass
class _Link:
    """What one step takes from one parent."""

    files: list[FileFrom] = field(default_factory=list)
    results: dict[str, str] = field(default_factory=dict)


class _Reader:
    """One pipeline file being read: where it is, its steps' names, its parameters."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.steps: list[str] = []
        self.parameters: dict[str, Any] = {}

    def file(self) -> PipelineFile:
        top = _mapping(_parse(_read(self.path, "")), "", "a pipeline file is a mapping: name, steps, ...")
        _known(top, TOP_KEYS, "", "a pipeline file")
        header = _validated(_Header, {k: v for k, v in top.items() if k not in ("parameters", "steps")}, "")
        self.parameters = self._parameters(top.get("parameters"))
        raw = _mapping(top.get("steps"), "steps", "give the steps, a mapping of name to step")
        if not raw:
            raise _Refused("steps", "give at least one step")
        self.steps = [self._step_key(key) for key in raw]
        steps = {key: self._step(key, value, header) for key, value in raw.items()}
        _check_order(steps)
        spec = _validated(PipelineSpec, {"parameters": self.parameters, "steps": steps}, "")
        return PipelineFile(**header.model_dump(), spec=spec)

    def _parameters(self, raw: object) -> dict[str, Any]:
        parameters = _mapping(raw, "parameters", "parameters are a mapping of name to default value")
        for name, value in parameters.items():
            try:
                check_name(str(name), f"parameters.{name}")
            except PipelineError as error:
                raise _Refused(error.where, error.message) from None
            if not _json_like(value):
                raise _Refused(
                    f"parameters.{name}",
                    "a default is a number, text, true/false, null, or a list or mapping of these",
                )
        return parameters

    def _step_key(self, key: object) -> str:
        if not isinstance(key, str) or not re.fullmatch(NAME, key):
            raise _Refused(f"steps.{key}", f"a step's key is {_NAME_RULE}")
        return key

    def _step(self, key: str, raw: object, header: _Header) -> CalculationCreate:
        where = f"steps.{key}"
        step = _mapping(raw, where, "a step is a mapping: type, inputs, needs, files, ...")
        _known(step, STEP_KEYS, where, "a step")
        links: dict[str, _Link] = {}
        for n, need in enumerate(_items(step.get("needs"), f"{where}.needs")):
            links.setdefault(self._parent(need, f"{where}.needs[{n}]"), _Link())
        for n, entry in enumerate(_items(step.get("files"), f"{where}.files")):
            parent, file = self._file_from(entry, f"{where}.files[{n}]")
            links.setdefault(parent, _Link()).files.append(file)
        data = {k: v for k, v in step.items() if k not in _OWN_KEYS}
        if "inputs" in step:
            data["inputs"] = self._inputs(step["inputs"], f"{where}.inputs", links)
        self._check_parameters({k: data[k] for k in ("inputs", "env") if k in data}, where)
        after = [
            _validated(Parent, {"step": parent, "files": link.files, "results": link.results}, where)
            for parent, link in links.items()
        ]
        data |= {"step": key, "name": step.get("name", key), "after": after}
        data |= {"cluster": header.cluster, "project": header.project}
        return _validated(CalculationCreate, data, where)

    def _parent(self, name: object, where: str) -> str:
        if not isinstance(name, str) or name not in self.steps:
            raise _Refused(where, f"no step named {name!r}; the steps are: {', '.join(sorted(self.steps))}")
        return name

    def _file_from(self, entry: object, where: str) -> tuple[str, FileFrom]:
        form = "a file from another step is {from: STEP, path: FILE}, with as: NAME to rename it"
        if not isinstance(entry, dict) or not {"from", "path"} <= set(entry):
            raise _Refused(where, form)
        _known(entry, ("from", "path", "as"), where, "a file from another step")
        parent = self._parent(entry["from"], where)
        return parent, _validated(FileFrom, {k: v for k, v in entry.items() if k != "from"}, where)

    def _inputs(self, raw: object, where: str, links: dict[str, _Link]) -> dict[str, Any]:
        inputs = _mapping(raw, where, "a step's inputs are a mapping of name to value")
        found = {
            key: self._input(value, f"{where}.{key}", [str(key)], links) for key, value in inputs.items()
        }
        return {key: value for key, value in found.items() if value is not _FILLED}

    def _input(self, value: object, where: str, path: list[str] | None, links: dict[str, _Link]) -> Any:
        """``value`` with its files read and its results taken out (``path`` is None in a list)."""
        if isinstance(value, list):
            return [self._input(item, f"{where}[{n}]", None, links) for n, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if set(value) == {"file"}:
            return escape(self._text(value["file"], where))
        if set(value) == {"from", "result"}:
            self._result(value, where, path, links)
            return _FILLED
        found = {
            key: self._input(item, f"{where}.{key}", None if path is None else [*path, str(key)], links)
            for key, item in value.items()
        }
        return {key: item for key, item in found.items() if item is not _FILLED}

    def _result(
        self, ref: dict[Any, Any], where: str, path: list[str] | None, links: dict[str, _Link]
    ) -> None:
        if path is None:
            raise _Refused(where, _LIST_REFERENCE)
        parent = self._parent(ref["from"], where)
        if not isinstance(ref["result"], str) or not ref["result"]:
            raise _Refused(f"{where}.result", "name the parent's result, as text")
        _validated_value(ResultName, ref["result"], f"{where}.result")
        if any("." in part for part in path):
            raise _Refused(where, "a result fills an input by its dotted name: no '.' in the keys on the way")
        _validated_value(InputPath, ".".join(path), where)
        links.setdefault(parent, _Link()).results[".".join(path)] = ref["result"]

    def _text(self, name: object, where: str) -> str:
        if not isinstance(name, str) or not name:
            raise _Refused(where, "{file: NAME} names a file next to the pipeline file")
        if "${" in name:
            raise _Refused(
                where, "a file is read when the pipeline is loaded: its name cannot use a parameter"
            )
        return _read(self.path.parent / name, where, name)

    def _check_parameters(self, data: Mapping[str, Any], where: str) -> None:
        try:
            for name, at in references(data, where):
                if name not in self.parameters:
                    raise _Refused(at, _undeclared(name, self.parameters))
        except PipelineError as error:
            raise _Refused(error.where, error.message) from None


_FILLED = object()


def _read(path: Path, where: str, name: str = "") -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        said = f"no file {name!r} next to the pipeline file (looked for {path})" if name else "no such file"
        raise _Refused(where, said) from None
    except UnicodeDecodeError:
        raise _Refused(where, f"{name or path} is not UTF-8 text") from None
    except OSError as error:
        raise _Refused(where, f"cannot read {name or path}: {error.strerror or error}") from None


class _Loader(yaml.SafeLoader):
    """YAML as JSON sees it: dates stay text, ``1e-6`` is a number, a repeated key is refused."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise ConstructorError(
                        problem=f"the key {key_node.value!r} is given twice", problem_mark=key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _parse(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        said = "; ".join(str(part) for part in (error.context, error.problem) if part)
        raise _Refused(where, f"not valid YAML: {said}") from None
    except yaml.YAMLError as error:
        raise _Refused("", f"not valid YAML: {error}") from None


def _scalar(text: str) -> Any:
    """A ``--set`` value: a YAML scalar (``401`` a number, ``true`` a truth), or else the text."""
    if not text.strip():
        return text
    try:
        value = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text
    return value if value is None or isinstance(value, str | int | float | bool) else text


def _mapping(value: object, where: str, said: str) -> dict[Any, Any]:
    if value is None and where:
        return {}
    if not isinstance(value, dict):
        raise _Refused(where, said if value is not None else "the file is empty; " + said)
    return value


def _items(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Refused(where, "give a list")
    return value


def _known(mapping: Mapping[Any, Any], allowed: tuple[str, ...], where: str, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            at = f"{where}.{key}" if where else str(key)
            raise _Refused(at, f"unknown key; {hint}{what} has: {', '.join(allowed)}")


def _json_like(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_like(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_like(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


def _undeclared(name: str, parameters: Mapping[str, Any]) -> str:
    if not parameters:
        return f"no parameter named {name!r}: the pipeline declares none (add it under parameters)"
    return f"no parameter named {name!r}; the parameters are: {', '.join(sorted(parameters))}"


def _check_order(steps: Mapping[str, CalculationCreate]) -> None:
    parents = {key: [p.step for p in step.after if p.step is not None] for key, step in steps.items()}
    try:
        graphs.order(parents)
    except graphs.CycleError as error:
        cycle = " -> ".join(map(str, error.cycle))
        raise _Refused(
            "steps", f"steps that wait for each other never run: {cycle}; break the circle"
        ) from None


def _validated(model: type[_Model], data: Mapping[str, Any], where: str) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _refusal(error, where) from None


def _validated_value(kind: Any, value: object, where: str) -> None:
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError as error:
        raise _refusal(error, where) from None


def _refusal(error: ValidationError, where: str) -> _Refused:
    first, *more = [_problem(problem, where) for problem in error.errors()]
    return _Refused(*first, more)


def _problem(problem: Any, where: str) -> tuple[str, str]:
    """A pydantic error as (where in the file, what to fix)."""
    parts = [where] if where else []
    for part in problem["loc"]:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]" if parts else f"[{part}]"]
        elif not re.fullmatch(r"[\w-]+\[.*\]|\[key\]", part):
            parts.append(part)
    message = str(problem["msg"]).removeprefix("Value error, ")
    given = problem.get("input")
    if problem["type"] == "string_pattern_mismatch" and problem.get("ctx", {}).get("pattern") == NAME:
        message = f"a name is {_NAME_RULE}"
    if problem["type"] == "missing":
        message = "is missing"
    elif problem["type"] != "value_error" and isinstance(given, str | int | float | bool):
        message += f" (got {json.dumps(given)})"
        if isinstance(given, str) and "${" in given:
            message += "; parameters are written into a step's inputs and env only"
    return ".".join(parts), message
