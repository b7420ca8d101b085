"""Validation of what users and agents send (calchub.contracts)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from calchub.contracts.agents import ClaimRequest, Heartbeat, Report
from calchub.contracts.calculations import (
    CalculationBatch,
    CalculationCreate,
    InputFile,
    Resources,
    check_relative_path,
)
from calchub.domain.states import State


def _errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as raised:
        CalculationCreate.model_validate(data)
    return raised.value.errors()  # type: ignore[return-value]


def _fields(errors: list[dict[str, Any]]) -> set[str]:
    return {str(e["loc"][0]) for e in errors}


def test_a_command_alone_is_enough_and_defaults_are_sane() -> None:
    calc = CalculationCreate(command=["true"])
    assert calc.cluster == "local"
    assert calc.resources == Resources(cores=1, gpus=0, memory=None, walltime=None)
    assert calc.priority == 0
    assert calc.max_attempts == 2
    assert calc.files == [] and calc.outputs == [] and calc.env == {}


@pytest.mark.parametrize("command", [[], "true"])
def test_command_must_be_a_non_empty_list(command: object) -> None:
    assert _fields(_errors({"command": command})) == {"command"}


@pytest.mark.parametrize("data", [{}, {"command": None}])
def test_without_a_command_a_type_is_needed(data: dict[str, Any]) -> None:
    (error,) = _errors(data)
    assert "give a command to run, or a calculation type" in error["msg"]


def test_a_type_brings_its_own_command_and_inputs_need_a_type() -> None:
    assert "leave out command" in _errors({"type": "shell", "command": ["true"]})[0]["msg"]
    assert "give type as well" in _errors({"command": ["true"], "inputs": {"a": 1}})[0]["msg"]
    typed = CalculationCreate(type="shell", inputs={"script": "true"})
    assert typed.command is None and typed.analyses is None


def test_unknown_fields_are_refused() -> None:
    assert _fields(_errors({"command": ["true"], "comand": ["x"]})) == {"comand"}


@pytest.mark.parametrize("path", ["/etc/passwd", "../up", "a/../../b", "a\\b", "", "a\nb"])
def test_output_patterns_must_stay_inside_the_work_folder(path: str) -> None:
    errors = _errors({"command": ["true"], "outputs": ["ok.txt", path]})
    assert _fields(errors) == {"outputs"}


@pytest.mark.parametrize("path", ["/abs.txt", "../x", "in/../../x", ""])
def test_input_file_paths_must_stay_inside_the_work_folder(path: str) -> None:
    errors = _errors({"command": ["true"], "files": [{"path": path, "content": "x"}]})
    assert _fields(errors) == {"files"}
    assert errors[0]["loc"][:3] == ("files", 0, "path")


def test_relative_paths_are_normalised() -> None:
    assert check_relative_path("a/./b.txt") == "a/b.txt"
    assert check_relative_path("*.out") == "*.out"
    calc = CalculationCreate(command=["true"], outputs=["results/*.json"])
    assert calc.outputs == ["results/*.json"]


def test_input_file_paths_must_be_unique() -> None:
    files = [{"path": "in.txt", "content": "a"}, {"path": "./in.txt", "content": "b"}]
    errors = _errors({"command": ["true"], "files": files})
    assert _fields(errors) == {"files"}
    assert "given twice" in errors[0]["msg"]


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", "", "É"])
def test_env_names_must_be_shell_names(name: str) -> None:
    assert _fields(_errors({"command": ["true"], "env": {name: "x"}})) == {"env"}


def test_good_env_names_pass() -> None:
    calc = CalculationCreate(command=["true"], env={"_A": "1", "OMP_NUM_THREADS": "4", "x9": ""})
    assert calc.env["OMP_NUM_THREADS"] == "4"


@pytest.mark.parametrize(("value", "ok"), [(-1001, False), (-1000, True), (1000, True), (1001, False)])
def test_priority_bounds(value: int, ok: bool) -> None:
    if ok:
        assert CalculationCreate(command=["true"], priority=value).priority == value
    else:
        assert _fields(_errors({"command": ["true"], "priority": value})) == {"priority"}


@pytest.mark.parametrize(("value", "ok"), [(0, False), (1, True), (20, True), (21, False)])
def test_max_attempts_bounds(value: int, ok: bool) -> None:
    if ok:
        assert CalculationCreate(command=["true"], max_attempts=value).max_attempts == value
    else:
        assert _fields(_errors({"command": ["true"], "max_attempts": value})) == {"max_attempts"}


def test_memory_and_walltime_accept_human_units() -> None:
    calc = CalculationCreate(command=["true"], resources={"memory": "2G", "walltime": "01:00:00"})
    assert calc.resources.memory == 2 * 1024**3
    assert calc.resources.walltime == 3600
    plain = Resources(memory=1000, walltime=60)
    assert (plain.memory, plain.walltime) == (1000, 60)


@pytest.mark.parametrize(
    "resources",
    [
        {"memory": "lots"},
        {"walltime": "soon"},
        {"memory": 0},
        {"walltime": "00:00"},
        {"cores": 0},
        {"cores": 4097},
        {"gpus": -1},
    ],
)
def test_bad_resources_are_refused(resources: dict[str, Any]) -> None:
    errors = _errors({"command": ["true"], "resources": resources})
    assert _fields(errors) == {"resources"}
    assert errors[0]["loc"][1] == next(iter(resources))


@pytest.mark.parametrize("cluster", ["", "-x", "a b", "x" * 64])
def test_cluster_names_are_checked(cluster: str) -> None:
    assert _fields(_errors({"command": ["true"], "cluster": cluster})) == {"cluster"}


def test_input_file_data_decodes_base64_and_utf8() -> None:
    raw = bytes(range(256))
    encoded = InputFile(path="b.bin", content=base64.b64encode(raw).decode(), encoding="base64")
    assert encoded.data() == raw
    assert InputFile(path="t.txt", content="héllo").data() == "héllo".encode()
    with pytest.raises(ValueError):
        InputFile(path="b.bin", content="not base64!", encoding="base64").data()


def test_a_batch_needs_at_least_one_and_validates_each() -> None:
    with pytest.raises(ValidationError):
        CalculationBatch(calculations=[])
    with pytest.raises(ValidationError) as raised:
        CalculationBatch.model_validate({"calculations": [{"command": ["true"]}, {"command": []}]})
    assert raised.value.errors()[0]["loc"][:2] == ("calculations", 1)


def test_agent_messages_are_strict() -> None:
    with pytest.raises(ValidationError):
        Heartbeat(agent="", version="1", host="h", cores=1, running=0)
    with pytest.raises(ValidationError):
        ClaimRequest(agent="a", cores=1, wait=61)
    with pytest.raises(ValidationError):
        ClaimRequest.model_validate({"agent": "a", "cores": -1})
    report = Report.model_validate({"id": 1, "attempt": 1, "state": "running", "at": "2024-01-01T00:00:00Z"})
    assert report.state is State.RUNNING
    with pytest.raises(ValidationError):
        Report.model_validate({"id": 1, "attempt": 1, "state": "exploded", "at": "2024-01-01T00:00:00Z"})
