"""Checking a submission against its type: the schema, the type's own checks, uploads, analyses."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from calchub.calctypes.api import CalcType
from calchub.calctypes.graph import selection_problems
from calchub.calctypes.quickcheck import Accepts, accepting


@dataclass(frozen=True)
class InputProblem:
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} (rule: {self.rule})"


def with_defaults(schema: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs with the schema's defaults filled in, object by object, and whole floats
    given to integer fields as integers. The result shares nothing with ``inputs`` or the schema."""
    filled: dict[str, Any] = json_copy(inputs)
    _fill(schema, filled)
    return filled


def _fill(schema: dict[str, Any], filled: dict[str, Any]) -> None:
    for key, spec in schema.get("properties", {}).items():
        if not isinstance(spec, dict):
            continue
        if key not in filled and "default" in spec:
            filled[key] = json_copy(spec["default"])
        value = filled.get(key)
        if spec.get("type") == "integer" and isinstance(value, float) and value.is_integer():
            filled[key] = int(value)  # JSON has one number type: 1000.0 is the integer 1000
        if isinstance(filled.get(key), dict) and spec.get("type") == "object":
            _fill(spec, filled[key])


_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value, several times faster than ``copy.deepcopy`` (anything but
    plain JSON inside is deep-copied as usual)."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    return value if kind in _SCALARS else copy.deepcopy(value)


class SchemaCheck:
    """A JSON Schema (draft 2020-12) made ready once: a quick test that passes only inputs the
    schema accepts (``quickcheck``), and ``jsonschema``, which judges the rest and names errors."""

    def __init__(self, schema: dict[str, Any]) -> None:
        from jsonschema import Draft202012Validator

        self.validator = Draft202012Validator(schema)
        self.accepts: Accepts | None = accepting(schema)

    def errors(self, instance: Any) -> list[Any]:
        """``jsonschema``'s errors (``ValidationError``), none when the quick test passes."""
        if self.accepts is not None and self.accepts(instance):
            return []
        return list(self.validator.iter_errors(instance))


#: id(schema) -> (schema, its check); the schema is kept so its id is never another's.
_checks: dict[int, tuple[dict[str, Any], SchemaCheck]] = {}


def schema_check(schema: dict[str, Any]) -> SchemaCheck:
    """The check of a type's schema, made once per schema (a type's schema is fixed once it is
    registered; a schema changed in place would keep its first check)."""
    found = _checks.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    if len(_checks) >= 256:
        _checks.clear()
    check = SchemaCheck(schema)
    _checks[id(schema)] = (schema, check)
    return check


def schema_problems(schema: dict[str, Any], inputs: dict[str, Any]) -> list[InputProblem]:
    problems = []
    errors = schema_check(schema).errors(inputs)
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(["inputs", *map(str, error.absolute_path), *_unexpected(error)])
        problems.append(InputProblem(where, str(error.validator), error.message))
    return problems


def _unexpected(error: Any) -> list[str]:
    """The one key an ``additionalProperties`` error is about, so the field names it."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return []
    allowed = error.schema.get("properties", {})
    extra = [key for key in error.instance if key not in allowed]
    return [str(extra[0])] if len(extra) == 1 else []


def check_schema(schema: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)


def upload_problems(calctype: CalcType, paths: list[str]) -> list[InputProblem]:
    problems = []
    rendered = set(calctype.templates)
    for path in paths:
        if path in rendered:
            problems.append(InputProblem(f"files.{path}", "rendered", f"{path!r} is written by the type"))
        elif calctype.upload_for(path) is None:
            takes = ", ".join(u.path for u in calctype.uploads) or "no files"
            problems.append(
                InputProblem(f"files.{path}", "uploads", f"{calctype.name} takes {takes}, not {path!r}")
            )
    for upload in calctype.uploads:
        if upload.required and not any(upload.matches(p) for p in paths):
            problems.append(
                InputProblem(f"files.{upload.path}", "required", f"upload {upload.path!r} is required")
            )
    return problems


def check_request(
    calctype: CalcType, inputs: dict[str, Any], paths: list[str], analyses: list[str] | None
) -> tuple[dict[str, Any], list[str], list[InputProblem]]:
    """The filled-in inputs, the analyses to run, and every problem found."""
    filled = with_defaults(calctype.schema, inputs)
    problems = schema_problems(calctype.schema, filled)
    chosen = calctype.default_analyses(filled) if analyses is None else list(analyses)
    problems += [InputProblem("analyses", "needs", m) for m in selection_problems(calctype.analyses, chosen)]
    if not problems:
        problems += [InputProblem(f, r, m) for f, r, m in calctype.check(filled, chosen)]
    problems += upload_problems(calctype, paths)
    return filled, chosen, problems
