"""``shell``: a bash script template with typed parameters.

Each parameter declares its JSON type (and optionally bounds or choices) and a
value; the value is checked against its declaration at submit and inserted into
the script shell-quoted, so no value can inject a command. A run may write
``results.json`` (``{"name": number | {"value", "unit", "error"}}``) to report results.
"""

from __future__ import annotations

import shlex
from typing import Any

from calchub.calctypes.api import CalcType, RunDir
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
        from jsonschema import Draft202012Validator

        problems = []
        for name, spec in inputs.get("parameters", {}).items():
            rules = {key: spec[key] for key in RULES if key in spec}
            for error in Draft202012Validator(rules).iter_errors(spec["value"]):
                problems.append((f"inputs.parameters.{name}.value", str(error.validator), error.message))
        if not problems:
            try:
                self.context(inputs)
            except RenderError as error:
                problems.append(("inputs.script", "template", str(error)))
        return problems

    def context(self, inputs: dict[str, Any]) -> dict[str, Any]:
        quoted = {name: _shell_word(spec["value"]) for name, spec in inputs.get("parameters", {}).items()}
        return {"script": render(inputs["script"], quoted, "script")}

    def validate(self, run: RunDir) -> list[str]:
        missing = [path for path in run.inputs.get("expect", []) if not run.exists(path)]
        return [f"the script did not write {path!r}, which it was expected to" for path in missing]

    def extract(self, run: RunDir, results: Results) -> None:
        json_results(run.file("results.json"), results)


def _shell_word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return shlex.quote(str(value))
