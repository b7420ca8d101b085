"""``python``: a Python script, or one function in it called with arguments.

With ``function`` set, the function is called with ``args`` and ``kwargs`` and
what it returns becomes results (a dict of named numbers, or one number called
``result``). Without it the code runs as a script with ``args`` as its argv.
Either may also write ``results.json`` itself.
"""

from __future__ import annotations

import json
from typing import Any

from calchub.calctypes.api import CalcType, RunDir
from calchub.calctypes.parsing import json_results
from calchub.calctypes.results import Results

CALLER = """\
import json, runpy, sys

spec = json.load(open("call.json"))
if spec["function"] is None:
    sys.argv = ["main.py", *map(str, spec["args"])]
    runpy.run_path("main.py", run_name="__main__")
else:
    namespace = runpy.run_path("main.py", run_name="calchub_main")
    function = namespace.get(spec["function"])
    if not callable(function):
        sys.exit(f"main.py defines no function {spec['function']!r}")
    value = function(*spec["args"], **spec["kwargs"])
    if value is not None:
        results = value if isinstance(value, dict) else {"result": value}
        with open("results.json", "w") as out:
            json.dump(results, out)
"""


class Python(CalcType):
    name = "python"
    version = "1.0"
    title = "Python"
    description = "A Python script, or a function in it called with arguments; returns become results."
    schema = {
        "type": "object",
        "required": ["code"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string", "minLength": 1, "maxLength": 1_000_000, "description": "main.py"},
            "function": {
                "type": ["string", "null"],
                "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                "default": None,
                "description": "call this function instead of running the file as a script",
            },
            "args": {
                "type": "array",
                "default": [],
                "description": "positional arguments (argv for a script)",
            },
            "kwargs": {"type": "object", "default": {}, "description": "keyword arguments for the function"},
        },
    }
    templates = {"main.py": "{{ code }}", "call.json": "{{ call }}", "calchub_call.py": "{{ caller }}"}
    command = ["python3", "calchub_call.py"]
    env = {"PYTHONUNBUFFERED": "1"}
    resources = {"cores": 1}
    keep = ["results.json"]

    def check(self, inputs: dict[str, Any], analyses: list[str]) -> list[tuple[str, str, str]]:
        try:
            compile(inputs["code"], "main.py", "exec")
        except SyntaxError as error:
            return [("inputs.code", "syntax", f"line {error.lineno}: {error.msg}")]
        if inputs.get("function") is None and inputs.get("kwargs"):
            return [("inputs.kwargs", "function", "keyword arguments need a function to call")]
        return []

    def context(self, inputs: dict[str, Any]) -> dict[str, Any]:
        call = {key: inputs.get(key) for key in ("function", "args", "kwargs")}
        return {"code": inputs["code"], "call": json.dumps(call), "caller": CALLER}

    def extract(self, run: RunDir, results: Results) -> None:
        json_results(run.file("results.json"), results)
