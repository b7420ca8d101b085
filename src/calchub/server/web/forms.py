"""A calculation type's input schema as form fields, and a posted form back as inputs.

Pure functions: the schema the API serves (``GET /calctypes/{name}``) is the
one the form is made from, so forms and checks come from one place. Nested
objects become dotted names (``options.samples``); what the form cannot
parse is left for the server's own check, which names the field and rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


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
