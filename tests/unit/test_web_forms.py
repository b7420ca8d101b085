"""A type's input schema as form fields, a posted form back as inputs and resources, and where
each problem a service names is shown."""

from __future__ import annotations

from datetime import UTC, datetime

from calchub.contracts.calctypes import AnalysisInfo, UploadInfo
from calchub.contracts.calculations import Resources
from calchub.contracts.clusters import Cluster, Partition, SlurmSettings
from calchub.domain.resources import parse_memory, parse_walltime
from calchub.server.web.forms import (
    analysis_needs,
    by_target,
    fields,
    form_of_inputs,
    inputs,
    memory_text,
    partition_choices,
    resource_defaults,
    resources,
    resources_form,
    slots,
    upload_path,
    values,
    walltime_text,
)

SCHEMA = {
    "type": "object",
    "required": ["temperature"],
    "properties": {
        "temperature": {"type": "number", "minimum": 0, "description": "reduced units"},
        "steps": {"type": "integer", "default": 1000},
        "fit": {"enum": ["lm", "dream"], "default": "lm"},
        "flush": {"type": "boolean", "default": False},
        "options": {"type": "object", "default": {}},
        "box": {"type": "object", "properties": {"size": {"type": "integer", "title": "Box size"}}},
        "label": {"type": ["string", "null"]},
        "expect": {"type": "array", "default": []},
    },
}


def test_each_property_is_a_field_of_the_right_kind_with_its_help_and_limits() -> None:
    found = {f.name: f for f in fields(SCHEMA)}
    assert [(n, f.kind) for n, f in found.items()] == [
        ("temperature", "number"),
        ("steps", "integer"),
        ("fit", "choice"),
        ("flush", "boolean"),
        ("options", "json"),
        ("box.size", "integer"),
        ("label", "text"),
        ("expect", "json"),
    ]
    assert (found["expect"].shown, found["options"].shown, found["label"].shown) == ("[]", "{}", "")
    assert (found["temperature"].required, found["temperature"].minimum) == (True, 0)
    assert found["temperature"].help == "reduced units"
    assert found["steps"].required is False and found["steps"].default == 1000
    assert found["fit"].choices == ["lm", "dream"]
    assert (found["box.size"].label, found["box.size"].html_id) == ("Box size", "in-box-size")


def test_a_form_gives_only_what_was_filled_in_parsed_by_kind() -> None:
    form = {
        "inputs.temperature": " 1.5 ",
        "inputs.steps": "",
        "inputs.fit": "dream",
        "inputs.flush": "on",
        "inputs.options": '{"samples": 100}',
        "inputs.box.size": "8",
        "inputs.expect": '["out.txt"]',
    }
    assert inputs(SCHEMA, form) == {
        "temperature": 1.5,
        "fit": "dream",
        "flush": True,
        "options": {"samples": 100},
        "box": {"size": 8},
        "expect": ["out.txt"],
    }


def test_what_does_not_parse_is_left_for_the_types_own_check_to_name() -> None:
    assert inputs(SCHEMA, {"inputs.temperature": "hot", "inputs.options": "{"}) == {
        "temperature": "hot",
        "options": "{",
        "flush": False,
    }


def test_a_fresh_form_shows_the_defaults_and_a_posted_one_what_was_sent() -> None:
    found = fields(SCHEMA)
    fresh = values(found, None)
    assert (fresh["steps"], fresh["flush"], fresh["options"], fresh["label"]) == (1000, False, "{}", "")
    posted = values(found, {"inputs.steps": "20"})
    assert (posted["steps"], posted["flush"], posted["fit"]) == ("20", False, "")
    assert values(fields({"properties": {"on": {"type": "boolean", "default": True}}}), {})["on"] is False, (
        "a box left unticked stays unticked when the form comes back"
    )


def test_a_calculations_inputs_fill_the_form_and_come_back_the_same() -> None:
    given = {"temperature": 1.5, "steps": 20, "fit": "dream", "flush": True, "box": {"size": 8}, "expect": []}
    form = form_of_inputs(fields(SCHEMA), given)
    assert form["inputs.flush"] == "on" and form["inputs.expect"] == "[]" and form["inputs.box.size"] == "8"
    assert inputs(SCHEMA, form) == given
    assert "inputs.flush" not in form_of_inputs(fields(SCHEMA), {"flush": False})


def test_resources_are_passed_as_written_and_shown_as_slurm_writes_them() -> None:
    form = {"resources.cores": " 4 ", "resources.walltime": "2:00:00", "resources.memory": "", "name": "x"}
    assert resources(form) == {"cores": "4", "walltime": "2:00:00"}
    chosen = Resources.model_validate(
        {"cores": 2, "walltime": "1-02:03:04", "memory": "1536M", "partition": "gpu"}
    )
    shown = resources_form(chosen)
    assert shown == {
        "resources.cores": "2",
        "resources.walltime": "1-02:03:04",
        "resources.memory": "1536M",
        "resources.partition": "gpu",
    }
    for seconds in (1, 59, 3600, 5400, 86_399, 86_400, 900_061):
        assert parse_walltime(walltime_text(seconds)) == seconds
    for count in (1000, 1024, 3 * 1024**2, 2 * 1024**3, 5 * 1024**4):
        assert parse_memory(memory_text(count)) == count
    assert resource_defaults({"cores": 1, "walltime": 3600}) == {"cores": "1", "walltime": "1:00:00"}
    assert resource_defaults({"cores": "many"}) == {}


def test_a_file_chosen_for_a_pattern_goes_into_the_patterns_folder() -> None:
    assert upload_path("model.py", "my-model.py") == "model.py"
    assert upload_path("*", "line.dat") == "line.dat"
    assert upload_path("data/**", "line.dat") == "data/line.dat"


def test_an_analysis_needs_only_the_other_analyses_it_names() -> None:
    declared = [
        AnalysisInfo(name="stats", needs=["curve"]),
        AnalysisInfo(name="plot", needs=["curve", "stats"]),
    ]
    assert analysis_needs(declared) == {"stats": [], "plot": ["stats"]}


def test_partitions_are_those_the_admin_opened_with_what_sinfo_said() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    table = [
        Partition(name="debug", state="up", default=True, cpus_total=8, cpus_idle=2, time_limit="1:00:00"),
        Partition(name="gpu", state="drain", cpus_total=16, cpus_idle=0, gpus_total=4, gpus_idle=1),
    ]
    cluster = Cluster(id=1, name="hpc", description="", executor="slurm", enabled=True, created_at=now)
    cluster.partitions = table
    assert [c.label for c in partition_choices(cluster)] == [
        "debug (2 of 8 CPUs idle, time limit 1:00:00, up, default)",
        "gpu (0 of 16 CPUs idle, 1 of 4 GPUs idle, time limit none, drain)",
    ]
    cluster.slurm = SlurmSettings(partitions=["gpu", "long"], default_partition="long")
    assert [c.label for c in partition_choices(cluster)] == [
        "gpu (0 of 16 CPUs idle, 1 of 4 GPUs idle, time limit none, drain)",
        "long (default)",
    ]


def test_each_problem_goes_to_its_field_its_upload_or_its_nearest_group() -> None:
    uploads = [UploadInfo(path="model.py", required=True), UploadInfo(path="*", required=False)]
    uploads.append(UploadInfo(path="data/**", required=False))
    where = slots(fields(SCHEMA), uploads)
    assert where.place("inputs.temperature") == "in-temperature"
    assert where.place("inputs.box.size") == "in-box-size"
    assert where.place("inputs.options.samples") == "in-options", "an option's problem is on its object"
    assert where.place("inputs.nothing") == "inputs"
    assert where.place("files.model.py") == "up-1"
    assert where.place("files.data/a/b.dat") == "up-3" and where.place("files.line.dat") == "up-2"
    assert where.place("files.0.path") == "up-2" and where.place("files") == "files"
    assert where.place("resources.walltime") == "walltime" and where.place("resources.qos") == "resources"
    assert where.place("priority") == "priority" and where.place("analyses") == "analyses"
    assert where.place("quota.core_hours") is None and where.place("") is None
    (problem,) = where.problems([("resources.walltime", "Value error, walltime 'soon' is not seconds")])
    assert (problem.target, problem.label, problem.message) == (
        "walltime",
        "Walltime",
        "walltime 'soon' is not seconds",
    )
    found = where.problems(
        [("inputs.temperature", "too cold"), ("inputs.temperature", "and wet"), ("", "no")]
    )
    assert by_target(found) == {"in-temperature": ["too cold", "and wet"]}
    assert found[-1].target is None and found[-1].label == ""
