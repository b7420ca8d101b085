"""Sweeps: one request makes a study of typed calculations, one per point, all or none."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from calchub.client import BadRequest, Client, Forbidden
from calchub.server.settings import Settings
from calchub.testing import ServerThread
from tests.integration.helpers import cli as run_cli

CELL = """\
name: cell
version: "1"
inputs:
  type: object
  additionalProperties: false
  properties:
    voltage: {type: number, default: 0.1}
    solvent: {type: string, enum: [water, ethanol, dmso], default: water}
    options:
      type: object
      properties:
        steps: {type: integer, minimum: 1, default: 10}
        seed: {type: integer, default: 0}
files:
  run.sh: |
    echo "{{ solvent }} at {{ voltage }} V, {{ options.steps }} steps"
command: [bash, run.sh]
"""


@pytest.fixture
def server(settings: Settings, made: Any) -> Iterator[ServerThread]:
    """The server, with the ``cell`` type in its home (types are found when it starts)."""
    folder = settings.home / "calctypes"
    folder.mkdir(parents=True)
    (folder / "cell.yaml").write_text(CELL)
    with ServerThread(settings) as running:
        yield running


TEMPLATE = {"type": "cell", "name": "cell", "inputs": {"options": {"steps": 50}}}


def test_a_product_of_two_by_three_makes_six_calculations_with_their_points(client: Client) -> None:
    client.submit(type="cell", inputs={"options": {}}, name="on its own")  # in no study: not listed
    made = client.sweep(
        "voltages",
        TEMPLATE,
        product=[
            {"input": "voltage", "values": [0.1, 0.2]},
            {"input": "solvent", "values": ["water", "ethanol", "dmso"]},
        ],
    )
    assert (made.study, made.count, made.last_id - made.first_id) == ("voltages", 6, 5)
    calcs = sorted(client.list(study="voltages"), key=lambda c: c.id)
    assert len(calcs) == 6 and len(client.list()) == 7
    assert [(c.inputs["voltage"], c.inputs["solvent"]) for c in calcs] == [
        (v, s) for v in (0.1, 0.2) for s in ("water", "ethanol", "dmso")
    ]
    assert all(c.inputs["options"] == {"steps": 50, "seed": 0} for c in calcs), "the template's, filled in"
    assert calcs[0].name == "cell voltage=0.1 solvent=water" and calcs[0].state == "queued"
    assert [c.id for c in made.sample] == [c.id for c in calcs]


def test_ranges_zips_and_explicit_points_reach_nested_inputs(client: Client) -> None:
    ranged = client.sweep(
        "ramp",
        TEMPLATE,
        product=[
            {"input": "voltage", "range": {"start": 0, "stop": 1, "num": 3}},
            {"zip": {"solvent": ["water", "dmso"], "options.seed": [1, 2]}},
        ],
    )
    got = [(c.inputs["voltage"], c.inputs["solvent"], c.inputs["options"]["seed"]) for c in ranged.sample]
    assert got == [(v, s, n) for v in (0, 0.5, 1) for s, n in (("water", 1), ("dmso", 2))]
    picked = client.sweep("picked", TEMPLATE, points=[{"voltage": 0.3}, {"voltage": 0.7}])
    assert [c.inputs["voltage"] for c in picked.sample] == [0.3, 0.7]


@pytest.mark.parametrize(
    ("body", "field", "said"),
    [
        (
            {"template": {"command": ["true"]}, "space": {"points": [{"x": 1}]}},
            "template.type",
            "a sweep varies the inputs of a calculation type",
        ),
        (
            {
                "space": {
                    "product": [{"input": "voltage", "values": [1]}, {"input": "voltage", "values": [2]}]
                }
            },
            "space.voltage",
            "voltage is set by axes 1 and 2",
        ),
        (
            {"space": {"product": [{"input": "voltage", "range": {"start": 0, "stop": 1, "step": 0}}]}},
            "space.voltage",
            "a step of 0 never goes from 0 to 1",
        ),
        (
            {"space": {"product": [{"input": f"x{n}", "values": list(range(10))} for n in range(5)]}},
            "space.axes",
            "100000 points, more than the 10000 a sweep may have",
        ),
        (
            {"space": {"points": [{"voltage": 0.1}, {"solvent": "water"}]}},
            "space.points[1]",
            "every point sets the same inputs",
        ),
        (
            {"space": {"points": [{"voltage": "high"}]}},
            "inputs.voltage",
            "'high' is not of type 'number'",
        ),
    ],
    ids=["a-command", "an-input-twice", "a-zero-step", "too-many", "points-differ", "a-bad-value"],
)
def test_a_sweep_that_cannot_be_made_is_refused_by_its_field_and_makes_nothing(
    server: ServerThread, made: Any, client: Client, body: dict[str, Any], field: str, said: str
) -> None:
    request = {"study": "bad", "template": TEMPLATE} | body
    answer = httpx.post(
        f"{server.url}/api/v1/studies", json=request, headers={"Authorization": f"Bearer {made.token}"}
    )
    assert answer.status_code == 422, answer.text
    assert said in answer.text
    assert field in answer.json().get("field", "") + str(answer.json().get("problems", ""))
    assert client.list(study="bad") == []


def test_the_space_is_checked_before_sending_and_a_read_only_token_may_not_sweep(
    client: Client, server: ServerThread
) -> None:
    with pytest.raises(ValueError, match="an axis has one of values, range or zip"):
        client.sweep("x", TEMPLATE, product=[{"input": "voltage"}])
    token = client.create_token("look", scope="read").token
    with Client(server.url, token) as looking, pytest.raises(Forbidden, match="read-only"):
        looking.sweep("x", TEMPLATE, points=[{"voltage": 1}])
    with pytest.raises(BadRequest):
        client.sweep("x", {"type": "no-such-type"}, points=[{"voltage": 1}])


def test_the_cli_sweeps_a_product_and_lists_the_study(
    server: ServerThread, made: Any, client: Client
) -> None:
    import json

    def cli(*args: str, code: int = 0) -> str:
        return run_cli(server.url, made.token, *args, code=code)

    out = cli(
        "sweep", "cells", "-t", "cell", "-i", "options.steps=7",
        "--vary", "solvent=water,dmso", "--linspace", "voltage=0:1:3",
    )  # fmt: skip
    assert "study cells: 6 calculations" in out
    listed = json.loads(cli("ls", "--study", "cells", "--json"))
    assert sorted((c["inputs"]["solvent"], c["inputs"]["voltage"]) for c in listed) == sorted(
        (s, v) for s in ("water", "dmso") for v in (0, 0.5, 1)
    )
    assert {c["inputs"]["options"]["steps"] for c in listed} == {7}
    assert "must look like NAME=START:STOP:STEP" in cli(
        "sweep", "x", "-t", "cell", "--range", "v=1:2", code=1
    )
    assert "one of the two" in cli("sweep", "x", "-t", "cell", code=1)
    assert "voltage is set by axes 1 and 2" in cli(
        "sweep", "x", "-t", "cell", "--vary", "voltage=1", "--range", "voltage=0:1:0.5", code=1
    )
    assert client.list(study="x") == []


def test_a_file_every_point_shares_is_stored_once_and_each_calculation_keeps_its_own(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    """600 points: a large batch, made with the cycle collector paused (it is back afterwards)."""
    template = {
        "type": "shell",
        "name": "same",
        "inputs": {"script": "echo same", "parameters": {"a": {"type": "integer", "value": 0}}},
    }
    made = client.sweep(
        "shared", template, product=[{"input": "parameters.a.value", "values": list(range(600))}]
    )
    assert gc.isenabled()
    assert (made.count, made.last_id - made.first_id) == (600, 599)
    assert [(c.id, c.name) for c in made.sample] == [
        (made.first_id + n, f"same parameters.a.value={n}") for n in range(100)
    ]
    first, other = made.first_id, made.first_id + 1
    stored = settings.resolved_storage_dir() / "calcs"
    scripts = [stored / str(i) / "inputs" / "run.sh" for i in range(first, made.last_id + 1)]
    assert scripts[0].stat().st_nlink == 600 and all(os.path.samefile(scripts[0], p) for p in scripts)
    client.cancel(first)
    client.delete(first)
    assert not scripts[0].exists()
    assert client.download(other, tmp_path, "run.sh", kind="input").read_text() == "echo same"
    assert scripts[1].stat().st_nlink == 599
