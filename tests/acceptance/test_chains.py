"""Chains and pipelines with real runs: a real server and agent, the built-in ``python`` type."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from calchub.client import Client
from tests.acceptance.conftest import Site

pytestmark = pytest.mark.slow

WRITE = """\
def main():
    with open("a.txt", "w") as out:
        out.write("abc")
    return {"n": 3}
"""
REPEAT = """\
import os

def main(n, gate=None):
    if gate is not None and not os.path.exists(gate):
        raise SystemExit("the gate is closed")
    text = open("a.txt").read() * n
    with open("b.txt", "w") as out:
        out.write(text)
    return {"length": len(text)}
"""
CHECK = """\
def main(length):
    text = open("in.txt").read()
    assert len(text) == length, (len(text), length)
    return {"length": len(text)}
"""


def _python(code: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": "python", "inputs": {"code": code, "function": "main", "kwargs": kwargs}}


def _chain(gate: Path | None = None) -> list[dict[str, Any]]:
    """a writes a.txt and n; b repeats a.txt n times into b.txt; c checks b.txt's length."""
    return [
        _python(WRITE) | {"name": "write", "step": "a"},
        _python(REPEAT, **({"gate": str(gate)} if gate else {}))
        | {
            "name": "repeat",
            "step": "b",
            "after": [{"step": "a", "files": ["a.txt"], "results": {"kwargs.n": "n"}}],
        },
        _python(CHECK)
        | {
            "name": "check",
            "step": "c",
            "after": [
                {
                    "step": "b",
                    "files": [{"path": "b.txt", "as": "in.txt"}],
                    "results": {"kwargs.length": "length"},
                }
            ],
        },
    ]


def _scalar(client: Client, calc_id: int, name: str) -> Any:
    return next(s.value for s in client.results(calc_id).scalars if s.name == name)


def test_a_three_step_chain_passes_a_file_and_a_result_down_the_line(site: Site) -> None:
    client = site.up().client()
    a, b, c = client.submit_many(_chain())
    assert [x.state for x in (a, b, c)] == ["queued", "waiting", "waiting"]
    done = client.wait_all([a.id, b.id, c.id], timeout=60)
    assert [x.state for x in done] == ["completed"] * 3, [x.message for x in done]
    assert _scalar(client, c.id, "length") == 9, "abc three times, from a's file and a's result"
    child = client.get(c.id)
    assert child.inputs is not None and child.inputs["kwargs"] == {"length": 9}
    assert child.parents == [b.id] and "in.txt" in {f.path for f in child.files if f.kind == "input"}
    assert [e.to_state for e in client.events(c.id)][:2] == ["waiting", "queued"]


def test_a_failure_skips_what_follows_and_a_retry_finishes_the_chain(site: Site, tmp_path: Path) -> None:
    client = site.up().client()
    gate = tmp_path / "gate"
    a, b, c = client.submit_many(_chain(gate))
    done = client.wait_all([a.id, b.id, c.id], timeout=60)
    assert [x.state for x in done] == ["completed", "failed", "skipped"]
    assert done[2].message == f"calculation {b.id} failed, so this one cannot run"

    gate.touch()
    assert client.retry(b.id).state == "queued"
    assert client.get(c.id).state == "waiting", "the skipped step waits again for its retried parent"
    done = client.wait_all([a.id, b.id, c.id], timeout=60)
    assert [x.state for x in done] == ["completed"] * 3
    assert [x.attempt for x in done] == [1, 2, 1], "what completed is not run again"
    assert _scalar(client, c.id, "length") == 9


TABLE = """\
import math

def main(n, upper):
    with open("table.csv", "w") as out:
        for i in range(n):
            x = upper * i / (n - 1)
            out.write(f"{x},{math.sin(x)}\\n")
    return {"rows": n}
"""
INTEGRATE = """\
def main(rows):
    points = [tuple(map(float, line.split(","))) for line in open("table.csv")]
    assert len(points) == rows
    total = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))
    return {"integral": total}
"""


def test_a_swept_two_step_pipeline_runs_the_whole_graph_at_each_point(site: Site) -> None:
    client = site.up().client()
    pipeline = {
        "parameters": {"n": 3, "upper": 3.141592653589793},
        "steps": {
            "table": _python(TABLE, n="${n}", upper="${upper}"),
            "integrate": _python(INTEGRATE)
            | {"after": [{"step": "table", "files": ["table.csv"], "results": {"kwargs.rows": "rows"}}]},
        },
    }
    made = client.create_study(
        "sines",
        description="sin on [0, pi], integrated at two resolutions",
        pipeline=pipeline,
        space={"product": [{"input": "n", "values": [11, 1001]}]},
    )
    assert made.count == 4
    calcs = sorted(client.list(study="sines"), key=lambda c: c.id)
    assert [(c.step, c.name) for c in calcs] == [
        ("table@0", "table n=11"),
        ("integrate@0", "integrate n=11"),
        ("table@1", "table n=1001"),
        ("integrate@1", "integrate n=1001"),
    ]
    done = client.wait_all([c.id for c in calcs], timeout=90)
    assert [c.state for c in done] == ["completed"] * 4, [c.message for c in done]
    coarse, fine = (_scalar(client, calcs[i].id, "integral") for i in (1, 3))
    assert abs(fine - 2) < 1e-5 < abs(coarse - 2) < 0.02, "each point's integral from its own table"

    study = client.study(made.id)
    assert (study.kind, study.total, study.counts) == ("pipeline", 4, {"completed": 4})
    assert study.parameters == ["n"] and study.description.startswith("sin on")
    assert [(s.name, s.after, s.counts) for s in study.steps] == [
        ("table", [], {"completed": 2}),
        ("integrate", ["table"], {"completed": 2}),
    ]


EXAMPLE = Path(__file__).parents[2] / "examples" / "pipelines" / "table_integrate" / "pipeline.yaml"


def test_the_example_pipeline_runs_swept_with_one_command_and_its_study_shows_it(running: Site) -> None:
    done = running.cli("run", str(EXAMPLE), "--vary", "n=11,1001", "--set", "upper=3.141592653589793")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "study integrate-sine (1): 4 calculations" in done.stdout
    assert re.search(r"table\W+█+ 2/2\W+2", done.stdout) and re.search(r"integrate\W+█+ 2/2\W+2", done.stdout)

    again = running.cli("run", str(EXAMPLE), "--set", "n=21")
    assert again.returncode == 0 and "study integrate-sine-2 (2): 2 calculations" in again.stdout

    shown = running.cli_json("study", "show", "integrate-sine")
    assert (shown["kind"], shown["total"], shown["parameters"]) == ("pipeline", 4, ["n"])
    table = running.client().results_table(study="integrate-sine", as_frame=False)
    column = table.columns.index("error")
    errors = sorted(row[column] for row in table.rows if row[column] is not None)
    assert len(errors) == 2 and errors[0] < 1e-5 < errors[1] < 0.02, "more points, a smaller error"
    listed = running.cli("study", "ls")
    assert "integrate-sine-2" in listed.stdout and "2/2" in listed.stdout and "4/4" in listed.stdout


def test_a_bad_pipeline_file_is_refused_with_where_and_nothing_runs(running: Site, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("from: table, path", "from: tabel, path"))
    (tmp_path / "tabulate.py").write_text("def main(n, upper):\n    return {}\n")
    (tmp_path / "integrate.py").write_text("def main(path, rows):\n    return {}\n")
    done = running.cli("run", str(bad))
    assert done.returncode == 1
    assert "steps.integrate.files[0]: no step named 'tabel'" in done.stderr + done.stdout
    assert running.client().list() == []


SCALE = """\
name: scale
version: "1"
inputs:
  type: object
  additionalProperties: false
  required: [factor]
  properties:
    factor: {type: number}
uploads: [start.txt]
files:
  scale.py: |
    value = float(open("start.txt").read()) * {{ factor }}
    print(f"value = {value}")
command: [python3, scale.py]
resources: {cores: 1, walltime: 600}
extract:
  - scalar: {name: value, file: stdout, pattern: 'value = (\\S+)'}
"""
START = """\
def main():
    with open("start.txt", "w") as out:
        out.write("1.5")
    return {"factor": 4}
"""


def test_a_typed_child_gets_its_required_upload_and_an_input_from_its_parent(site: Site) -> None:
    """The type requires start.txt: the parent's file is it; its walltime stays the type's."""
    (site.home / "calctypes").mkdir(parents=True)
    (site.home / "calctypes" / "scale.yaml").write_text(SCALE)
    client = site.up().client()
    parent, child = client.submit_many(
        [
            _python(START) | {"step": "start"},
            {
                "type": "scale",
                "after": [{"step": "start", "files": ["start.txt"], "results": {"factor": "factor"}}],
            },
        ]
    )
    assert child.resources.walltime == 600
    done = client.wait_all([parent.id, child.id], timeout=60)
    assert [c.state for c in done] == ["completed", "completed"], [c.message for c in done]
    assert done[1].resources.walltime == 600, "the type's own resources, after it was rendered"
    assert _scalar(client, child.id, "value") == 6.0


def test_a_two_by_three_sweep_runs_six_calculations_each_with_its_point(site: Site) -> None:
    client = site.up().client()
    template = _python("def main(a, b):\n    return {'product': a * b, 'label': b}\n", a=0, b="")
    made = client.sweep(
        "grid",
        template,
        product=[{"input": "kwargs.a", "values": [2, 3]}, {"input": "kwargs.b", "values": [1, 10, 100]}],
    )
    assert made.count == 6
    calcs = sorted(client.list(study="grid"), key=lambda c: c.id)
    done = client.wait_all([c.id for c in calcs], timeout=60)
    assert [c.state for c in done] == ["completed"] * 6, [c.message for c in done]
    got = [(c.inputs["kwargs"]["a"], c.inputs["kwargs"]["b"], _scalar(client, c.id, "product")) for c in done]
    assert got == [(a, b, a * b) for a in (2, 3) for b in (1, 10, 100)]
    study = client.study("grid")
    assert (study.kind, study.counts, study.parameters) == (
        "sweep",
        {"completed": 6},
        ["kwargs.a", "kwargs.b"],
    )
