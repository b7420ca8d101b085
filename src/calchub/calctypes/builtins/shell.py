"""``shell``: a bash script template with typed parameters.

Each parameter declares its JSON type (and optionally bounds or choices) and a
value; the value is checked against its declaration at submit and inserted into
the script shell-quoted, so no value can inject a command. A run may write
``results.json`` (``{"name": number | {"value", "unit", "error"}}``) to report results.
"""

from __future__ import annotations

import shlex
from functools import lru_cache
from typing import Any

from calchub.calctypes.api import CalcType, RunDir
from calchub.calctypes.inputs import SchemaCheck
from calchub.calctypes.parsing import json_results
from calchub.calctypes.render import RenderError, render
from calchub.calctypes.results import Results

PARAMETER = {
    "type": "object",
    "required": ["type", "value"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["string", "number", "integer", "boolean"]},
        "value": {"type": ["string", "number", "integer", "boolean"]},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "enum": {"type": "array", "minItems": 1},
        "pattern": {"type": "string"},
        "description": {"type": "string"},
    },
}
RULES = ("type", "minimum", "maximum", "enum", "pattern")


class Shell(CalcType):
    name = "shell"
    version = "1.0"
    title = "Shell script"
    description = "A bash script rendered from a template; {{ name }} inserts a parameter, shell-quoted."
    schema = {
        "type": "object",
        "required": ["script"],
        "additionalProperties": False,
        "properties": {
            "script": {"type": "string", "minLength": 1, "maxLength": 100_000, "description": "bash script"},
            "parameters": {
                "type": "object",
                "default": {},
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,62}$"},
                "additionalProperties": PARAMETER,
            },
            "expect": {
                "type": "array",
                "default": [],
                "items": {"type": "string", "minLength": 1},
                "description": "files the script must leave behind; a run without them is invalid",
            },
        },
    }
    templates = {"run.sh": "{{ script }}"}
    command = ["bash", "run.sh"]
    resources = {"cores": 1}
    keep = ["results.json"]
    provides = ()

    def check(self, inputs: dict[str, Any], analyses: list[str]) -> list[tuple[str, str, str]]:
        problems = []
        for name, spec in inputs.get("parameters", {}).items():
            rules = {key: spec[key] for key in RULES if key in spec}
            for error in _rules_check(rules).errors(spec["value"]):
                problems.append((f"inputs.parameters.{name}.value", str(error.validator), error.message))
        if not problems:
            try:
                self.context(inputs)
            except RenderError as error:
                problems.append(("inputs.script", "template", str(error)))
        return problems

    def context(self, inputs: dict[str, Any]) -> dict[str, Any]:
        quoted = tuple(
            (name, _shell_word(spec["value"])) for name, spec in inputs.get("parameters", {}).items()
        )
        return {"script": _script(inputs["script"], quoted)}

    def validate(self, run: RunDir) -> list[str]:
        missing = [path for path in run.inputs.get("expect", []) if not run.exists(path)]
        return [f"the script did not write {path!r}, which it was expected to" for path in missing]

    def extract(self, run: RunDir, results: Results) -> None:
        json_results(run.file("results.json"), results)


@lru_cache(maxsize=64)
def _script(script: str, quoted: tuple[tuple[str, str], ...]) -> str:
    """The script rendered: ``check`` renders it to find template errors and ``prepare`` uses
    it, so a submission renders it once (a sweep makes thousands)."""
    return render(script, dict(quoted), "script")


#: repr(rules) -> their check: a sweep checks the same few rules at every point.
_rule_checks: dict[str, SchemaCheck] = {}


def _rules_check(rules: dict[str, Any]) -> SchemaCheck:
    key = repr(rules)  # equal reprs are equal JSON of equal types
    found = _rule_checks.get(key)
    if found is None:
        if len(_rule_checks) >= 1024:
            _rule_checks.clear()
        found = _rule_checks[key] = SchemaCheck(rules)
    return found


def _shell_word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return shlex.quote(str(value))
