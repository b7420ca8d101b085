"""Calculation types on the server: list and describe them, and turn a typed request into a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from calchub.calctypes.api import CalcType
from calchub.calctypes.inputs import InputProblem, check_request
from calchub.calctypes.registry import Registry, UnknownType
from calchub.calctypes.render import RenderError
from calchub.contracts import calctypes as types_wire
from calchub.contracts import calculations as wire
from calchub.domain import sweeps
from calchub.server.services.errors import Invalid, InvalidInputs, NotFound, TooLarge


@dataclass
class Plan:
    """What one request becomes: the command, files and settings an agent runs."""

    command: list[str]
    env: dict[str, str]
    files: list[tuple[str, bytes]]
    outputs: list[str]
    resources: wire.Resources
    typed: dict[str, Any] = field(default_factory=dict)
    #: The request to render once its parents' results are in (None: rendered now).
    deferred: dict[str, Any] | None = None


def plan(
    registry: Registry,
    request: wire.CalculationCreate,
    where: str = "",
    uploaded: Sequence[str] = (),
    provided: Sequence[str] = (),
) -> Plan:
    """What ``request`` runs. ``uploaded`` names files it already has (a deferred calculation's);
    ``provided``, files its parents give it, which count for the uploads its type requires but
    are not the type's to refuse.

    A typed request whose inputs wait for parents' results (``after[].results``) is checked
    without them and not rendered (``Plan.deferred``) until they are in.
    """
    uploads = [(item.path, input_data(item, where)) for item in request.files]
    if request.type is None:
        assert request.command is not None
        return Plan(
            list(request.command), dict(request.env), uploads, list(request.outputs), request.resources
        )
    try:
        calctype = registry.get(request.type)
    except UnknownType as error:
        raise Invalid(str(error), f"{where}type") from None
    bound = [path for parent in request.after for path in parent.results]
    if bound:
        return _deferred(calctype, request, uploads, bound, provided, where)
    paths = [path for path, _ in uploads] + list(uploaded)
    inputs, analyses, problems = check_request(
        calctype, request.inputs, paths + list(provided), request.analyses
    )
    problems = _not_about(problems, provided)
    if problems:
        raise InvalidInputs([(f"{where}{p.field}", p.rule, p.message) for p in problems])
    try:
        prepared = calctype.prepare(inputs)
    except RenderError as error:
        raise Invalid(str(error), f"{where}inputs") from None
    rendered = [(path, text.encode()) for path, text in prepared.files.items()]
    chosen = (
        request.resources.model_dump(exclude_unset=True) if "resources" in request.model_fields_set else {}
    )
    return Plan(
        command=prepared.command,
        env=prepared.env | dict(request.env),
        files=rendered + uploads,
        outputs=list(dict.fromkeys([*prepared.keep, *request.outputs])),
        resources=wire.Resources.model_validate(prepared.resources | chosen),
        typed={
            "calctype": calctype.name,
            "calctype_version": calctype.version,
            "calctype_digest": calctype.digest(),
            "inputs": inputs,
            "analyses": analyses,
        },
    )


def _deferred(
    calctype: CalcType,
    request: wire.CalculationCreate,
    uploads: list[tuple[str, bytes]],
    bound: list[str],
    provided: Sequence[str],
    where: str,
) -> Plan:
    """A typed request checked with the inputs its parents will fill left out; nothing rendered.

    Each bound input holds a placeholder for the check, so only what the request itself gives
    is judged here; the whole is checked again, and rendered, once the results are in.
    """
    placeholders = sweeps.inputs_at(request.inputs, dict.fromkeys(bound))
    paths = [path for path, _ in uploads] + list(provided)
    _, analyses, problems = check_request(calctype, placeholders, paths, request.analyses)
    problems = _not_about(problems, provided)
    fields = [f"inputs.{path}" for path in bound]
    problems = [p for p in problems if not any(p.field == f or p.field.startswith(f"{f}.") for f in fields)]
    if problems:
        raise InvalidInputs([(f"{where}{p.field}", p.rule, p.message) for p in problems])
    chosen = (
        request.resources.model_dump(exclude_unset=True) if "resources" in request.model_fields_set else {}
    )
    return Plan(
        command=[],
        env=dict(request.env),
        files=uploads,
        outputs=list(request.outputs),
        resources=wire.Resources.model_validate(dict(calctype.resources) | chosen),
        typed={
            "calctype": calctype.name,
            "calctype_version": calctype.version,
            "calctype_digest": calctype.digest(),
            "inputs": request.inputs,
            "analyses": analyses,
        },
        deferred=request.model_dump(
            mode="json", exclude={"files", "after", "step"}, by_alias=True, exclude_unset=True
        ),
    )


def _not_about(problems: list[InputProblem], provided: Sequence[str]) -> list[InputProblem]:
    """The problems, but for a type not taking a file a parent provides (it is not an upload)."""
    return [p for p in problems if not (p.rule == "uploads" and p.field.removeprefix("files.") in provided)]


def input_data(item: wire.InputFile, where: str = "") -> bytes:
    try:
        data = item.data()
    except ValueError:
        raise Invalid(f"input file {item.path!r} is not valid base64", f"{where}files.{item.path}") from None
    if len(data) > wire.MAX_INPUT_FILE_BYTES:
        raise TooLarge(
            f"input file {item.path!r} is {len(data)} bytes; inline files are limited to "
            f"{wire.MAX_INPUT_FILE_BYTES} bytes",
            f"{where}files.{item.path}",
        )
    return data


def listing(registry: Registry) -> types_wire.CalcTypeList:
    return types_wire.CalcTypeList(
        items=[_summary(t) for _, t in sorted(registry.types.items())],
        refused=[types_wire.RefusedType(source=s, error=e) for s, e in sorted(registry.refused.items())],
    )


def _summary(calctype: CalcType) -> types_wire.CalcTypeSummary:
    return types_wire.CalcTypeSummary(
        name=calctype.name, version=calctype.version, title=calctype.title, source=calctype.source
    )


def describe(registry: Registry, name: str) -> types_wire.CalcTypeInfo:
    try:
        t = registry.get(name)
    except UnknownType as error:
        raise NotFound(str(error)) from None
    return types_wire.CalcTypeInfo(
        **_summary(t).model_dump(),
        description=t.description,
        digest=t.digest(),
        input_schema=t.schema,
        uploads=[
            types_wire.UploadInfo(path=u.path, required=u.required, description=u.description)
            for u in t.uploads
        ],
        command=list(t.command),
        resources=dict(t.resources),
        keep=list(t.keep),
        cleanup=list(t.cleanup),
        provides=list(t.provides),
        analyses=[
            types_wire.AnalysisInfo(
                name=a.name, needs=list(a.needs), description=a.description, default=a.default
            )
            for a in t.analyses
        ],
    )


def uploaded(registry: Registry, name: str, paths: list[str]) -> list[str]:
    """Which of a calculation's input files were uploaded (the rest its type's templates wrote)."""
    try:
        calctype = registry.get(name)
    except UnknownType:
        return []
    return [p for p in paths if p not in calctype.templates and calctype.upload_for(p) is not None]
