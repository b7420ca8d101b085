"""Typed calculations through the API and a real agent: checked, rendered, post-processed, kept."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from calchub.agent.loop import Agent
from calchub.agent.settings import AgentSettings
from calchub.calctypes.registry import discover
from calchub.client import BadRequest, Client, Conflict, NotFound
from calchub.server.settings import Settings
from calchub.testing import ServerThread
from tests.integration.helpers import count, running

MEASURE = """\
name: measure
version: "2.1"
title: Measure a curve
inputs:
  type: object
  additionalProperties: false
  properties:
    points: {type: integer, minimum: 2, maximum: 1000, default: 5}
    slope: {type: number, default: 2.0}
files:
  run.sh: |
    echo "Step Value"
    for i in $(seq 0 $(( {{ points }} - 1 ))); do echo "$i $(( i * {{ slope | int }} ))"; done
    echo "done"
    head -c 50000 /dev/zero > raw.bin
    echo "energy = -3.5" > summary.txt
command: [bash, run.sh]
keep: [summary.txt]
cleanup: ["*.bin"]
validate:
  - contains: {file: stdout, text: done}
  - absent: {file: stdout, pattern: "ERROR"}
extract:
  - table: {name: curve, file: stdout, header: Step}
  - scalar: {name: energy, file: summary.txt, pattern: 'energy = (\\S+)', unit: eV}
analyses:
  - {name: stats, needs: [curve], stats: {table: curve, columns: [Value]}}
  - {name: plot, needs: [curve, stats], plot: {table: curve, x: Step, y: [Value], name: curve}}
"""

CYCLE = """\
name: cycle
version: "1"
command: [true]
analyses:
  - {name: a, needs: [b], stats: {table: t, columns: [x]}}
  - {name: b, needs: [a], stats: {table: t, columns: [x]}}
"""

MISSING = """\
name: missing
version: "1"
command: [true]
analyses:
  - {name: a, needs: [nothing_provides_this], stats: {table: t, columns: [x]}}
"""


@pytest.fixture
def types_folder(settings: Settings) -> Path:
    """Types in the server's CALCHUB_HOME; written before the server starts."""
    folder = settings.home / "calctypes"
    folder.mkdir(parents=True)
    (folder / "measure.yaml").write_text(MEASURE)
    (folder / "cycle.yaml").write_text(CYCLE)
    (folder / "missing.yml").write_text(MISSING)
    (folder / "broken.yaml").write_text("name: [unclosed\n")
    return folder


@pytest.fixture
def agent_settings(server: ServerThread, made: Any, tmp_path: Path) -> AgentSettings:
    return AgentSettings(url=server.url, key=made.agent_key, root=tmp_path / "agent", name="typed", cores=2)


def _run(agent_settings: AgentSettings, home: Path, work: Callable[[], Any]) -> Any:
    async def scenario() -> Any:
        async with running(Agent(agent_settings, types=discover(home))):
            return await asyncio.to_thread(work)

    return asyncio.run(scenario())


def test_types_are_listed_with_schemas_and_bad_registrations_are_refused(
    types_folder: Path, client: Client
) -> None:
    listing = client.calctypes()
    names = {t.name: t.version for t in listing.items}
    assert {"shell", "python", "measure"} <= set(names)
    assert names["measure"] == "2.1"
    refused = {Path(r.source).name: r.error for r in listing.refused}
    assert "cycle" in refused["cycle.yaml"] and "a -> b -> a" in refused["cycle.yaml"]
    assert "needs 'nothing_provides_this'" in refused["missing.yml"]
    assert "not valid YAML" in refused["broken.yaml"]
    info = client.calctype("measure")
    assert info.input_schema["properties"]["points"]["maximum"] == 1000
    assert [(a.name, a.needs) for a in info.analyses] == [("stats", ["curve"]), ("plot", ["curve", "stats"])]
    assert info.provides == ["curve", "energy"] and info.cleanup == ["*.bin"]
    with pytest.raises(NotFound, match="no calculation type 'nope'"):
        client.calctype("nope")


def test_a_yaml_type_runs_validates_extracts_analyses_and_cleans_up(
    types_folder: Path, client: Client, agent_settings: AgentSettings, settings: Settings
) -> None:
    client.create_project("demo")

    def work() -> Any:
        calc = client.submit(type="measure", inputs={"points": 4}, study="curves", project="demo")
        return calc, client.wait(calc.id, 30)

    calc, done = _run(agent_settings, settings.home, work)
    assert (calc.type, calc.type_version, calc.inputs) == ("measure", "2.1", {"points": 4, "slope": 2.0})
    assert calc.analyses == ["stats", "plot"]
    assert done.state == "completed", done.message
    assert [e.to_state for e in client.events(calc.id)][-2:] == ["postprocessing", "completed"]
    found = client.results(calc.id)
    scalars = {s.name: (s.value, s.unit, s.source) for s in found.scalars}
    assert scalars["energy"] == (-3.5, "eV", "extract")
    assert scalars["Value.mean"] == (3.0, "", "stats")
    assert scalars["Value.max"][0] == 6.0
    (curve,) = found.tables
    assert curve.columns == ["Step", "Value"] and curve.rows == [[0, 0], [1, 2], [2, 4], [3, 6]]
    assert [(f.name, f.path, f.source) for f in found.figures] == [("curve", "figures/curve.svg", "plot")]
    # Clean-up: the raw file is gone from the work folder and its bytes are on record.
    workdir = agent_settings.root / f"{calc.id}-1"
    assert not (workdir / "raw.bin").exists() and (workdir / "summary.txt").exists()
    assert found.bytes_freed == 50000 and done.bytes_freed == 50000
    kept = {f.path for f in client.files(calc.id) if f.kind == "output"}
    assert kept == {"summary.txt", "figures/curve.svg"}


def test_a_run_that_exits_zero_but_fails_validation_is_invalid_with_its_reason(
    client: Client, agent_settings: AgentSettings, settings: Settings
) -> None:
    script = "echo working; echo 'ERROR: SCF did not converge' >&2; exit 0"

    def work() -> Any:
        calc = client.submit(type="shell", inputs={"script": script, "expect": ["energy.dat"]})
        return client.wait(calc.id, 30)

    done = _run(agent_settings, settings.home, work)
    assert (done.state, done.exit_code) == ("invalid", 0)
    assert done.message == "the script did not write 'energy.dat', which it was expected to"
    assert client.results(done.id).scalars == []


def test_a_failed_typed_run_says_what_its_type_reads_in_the_output(
    client: Client, agent_settings: AgentSettings, settings: Settings
) -> None:
    def work() -> Any:
        calc = client.submit(type="shell", inputs={"script": "exit 3", "expect": ["energy.dat"]})
        return client.wait(calc.id, 30)

    done = _run(agent_settings, settings.home, work)
    assert (done.state, done.exit_code) == ("failed", 3)
    expected = "the script did not write 'energy.dat', which it was expected to"
    assert done.message == f"exited with code 3: {expected}"


def test_a_type_changed_without_a_new_version_is_refused(
    types_folder: Path, client: Client, server: ServerThread
) -> None:
    import yaml

    from calchub.calctypes.declarative import from_spec

    first = client.submit(type="measure")
    registry = server.app.state.hub.calctypes
    changed = MEASURE.replace("head -c 50000", "head -c 60000")
    registry.types["measure"] = from_spec(yaml.safe_load(changed), changed, "measure.yaml")
    said = f"changed since calculation {first.id} ran its version 2.1"
    with pytest.raises(Conflict, match=said) as refused:
        client.submit(type="measure")
    assert refused.value.field == "type"
    bumped = changed.replace('version: "2.1"', 'version: "2.2"')
    registry.types["measure"] = from_spec(yaml.safe_load(bumped), bumped, "measure.yaml")
    assert client.submit(type="measure").type_version == "2.2"


def test_shell_and_python_types_run_with_typed_parameters_and_give_results(
    client: Client, agent_settings: AgentSettings, settings: Settings
) -> None:
    script = 'echo "{\\"count\\": {{ n }}, \\"label\\": \\"$(echo {{ word }})\\"}" > results.json'
    code = textwrap.dedent(
        """
        def fit(a, b, scale=1.0):
            return {"sum": {"value": (a + b) * scale, "unit": "eV", "error": 0.1}}
        """
    )

    def work() -> Any:
        shell = client.submit(
            type="shell",
            inputs={
                "script": script,
                "parameters": {
                    "n": {"type": "integer", "value": 7, "minimum": 1},
                    "word": {"type": "string", "value": "two words; rm -rf /"},
                },
            },
        )
        python = client.submit(
            type="python", inputs={"code": code, "function": "fit", "args": [1, 2], "kwargs": {"scale": 2}}
        )
        return client.wait_all([shell.id, python.id], 30)

    shell, python = _run(agent_settings, settings.home, work)
    assert shell.state == "completed", shell.message
    values = {s.name: s.value for s in client.results(shell.id).scalars}
    # The value arrived shell-quoted: one word to echo, no command run.
    assert values == {"count": 7, "label": "two words; rm -rf /"}
    assert python.state == "completed", python.message
    (total,) = client.results(python.id).scalars
    assert (total.name, total.value, total.unit, total.error) == ("sum", 6.0, "eV", 0.1)


def test_the_results_table_across_calculations_as_json_csv_and_dataframe(
    types_folder: Path, client: Client, agent_settings: AgentSettings, settings: Settings
) -> None:
    def work() -> list[Any]:
        calcs = [client.submit(type="measure", inputs={"slope": s}, study="sweep") for s in (1, 3)]
        calcs.append(client.submit(type="measure", inputs={"slope": 5}, study="other"))
        return client.wait_all([c.id for c in calcs], 30)

    done = _run(agent_settings, settings.home, work)
    assert [c.state for c in done] == ["completed"] * 3
    table = client.results_table(
        type="measure", study="sweep", fields=["inputs.slope", "Value.max"], as_frame=False
    )
    assert table.columns == [
        "id",
        "name",
        "type",
        "type_version",
        "state",
        "project",
        "study",
        "inputs.slope",
        "Value.max",
    ]
    assert [row[-2:] for row in table.rows] == [[1, 4.0], [3, 12.0]]
    frame = client.results_table(type="measure", fields=["energy"])
    assert list(frame.index) == [c.id for c in done]
    assert list(frame["energy"]) == [-3.5] * 3 and frame.attrs["units"] == {"energy": "eV"}
    text = client.results_csv(type="measure", study="other", fields="energy,inputs.slope")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][-2:] == ["energy [eV]", "inputs.slope"]
    assert rows[1][0] == str(done[2].id) and rows[1][-2:] == ["-3.5", "5"]


@pytest.mark.parametrize(
    ("request_", "field", "rule"),
    [
        ({"type": "nope"}, "type", None),
        ({"type": "shell", "inputs": {}}, "inputs", "required"),
        ({"type": "shell", "inputs": {"script": "x", "colour": 1}}, "inputs.colour", "additionalProperties"),
        (
            {
                "type": "shell",
                "inputs": {"script": "x", "parameters": {"n": {"type": "integer", "value": 0, "minimum": 1}}},
            },
            "inputs.parameters.n.value",
            "minimum",
        ),
        ({"type": "shell", "inputs": {"script": "{{ nope }}"}}, "inputs.script", "template"),
        ({"type": "python", "inputs": {"code": "def broken(:"}}, "inputs.code", "syntax"),
        ({"type": "python", "inputs": {"code": "x = 1", "args": "no"}}, "inputs.args", "type"),
        ({"type": "measure", "inputs": {"points": 1}}, "inputs.points", "minimum"),
        ({"type": "measure", "inputs": {"points": "many"}}, "inputs.points", "type"),
        ({"type": "measure", "analyses": ["plot"]}, "analyses", "needs"),
        ({"type": "measure", "analyses": ["fourier"]}, "analyses", "needs"),
        ({"type": "measure", "files": [{"path": "extra.txt", "content": "x"}]}, "files.extra.txt", "uploads"),
    ],
)
def test_bad_typed_inputs_are_refused_naming_the_field_and_rule_and_create_nothing(
    types_folder: Path, client: Client, request_: dict[str, Any], field: str, rule: str | None
) -> None:
    with pytest.raises(BadRequest) as refused:
        client.submit(request_)
    assert refused.value.status == 422
    assert refused.value.field == field, refused.value.message
    assert refused.value.rule == rule
    assert count(client) == 0


def test_a_batch_names_the_calculation_that_is_wrong(types_folder: Path, client: Client) -> None:
    good = {"type": "measure", "inputs": {"points": 3}}
    bad = {"type": "measure", "inputs": {"points": 0}}
    with pytest.raises(BadRequest) as refused:
        client.submit_many([good, bad])
    assert refused.value.field == "calculations[1].inputs.points"
    assert "0 is less than the minimum of 2" in refused.value.message
    assert count(client) == 0


def test_results_are_only_for_their_project(
    types_folder: Path,
    client: Client,
    make_user: Callable[..., Client],
    agent_settings: AgentSettings,
    settings: Settings,
) -> None:
    alice = make_user("alice")

    def work() -> Any:
        calc = alice.submit(type="measure")
        return alice.wait(calc.id, 30)

    done = _run(agent_settings, settings.home, work)
    bob = make_user("bob")
    with pytest.raises(NotFound):
        bob.results(done.id)
    assert bob.results_table(type="measure", as_frame=False).rows == []
    assert bob.results_table(owner="alice", as_frame=False).rows == [], "alice's are in her own project"
    with pytest.raises(NotFound, match="no project named '~alice'"):
        bob.results_table(project="~alice", as_frame=False)
    assert [row[0] for row in client.results_table(owner="alice", as_frame=False).rows] == [done.id]
    anonymous = Client(client.url, "chu_not-a-token")
    with pytest.raises(Exception, match="401"):
        anonymous.results(done.id)
    anonymous.close()
    assert json.loads(client.results(done.id).model_dump_json())["bytes_freed"] == 50000
