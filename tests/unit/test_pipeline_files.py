"""Pipeline files: the example read into steps and links, every refusal saying where and what,
``--set`` and ``--cluster``, and the example's own scripts giving the right integral."""

from __future__ import annotations

import math
import runpy
import textwrap
from pathlib import Path

import pytest

from calchub.contracts.calculations import FileFrom, Parent
from calchub.contracts.pipelines import PipelineFile, PipelineFileError, load, with_cluster, with_sets
from calchub.contracts.studies import PipelineSpec, StudyCreate

EXAMPLE = Path(__file__).parents[2] / "examples" / "pipelines" / "table_integrate"

GOOD = """\
name: two-steps
parameters: {n: 3}
steps:
  first:
    type: python
    inputs: {code: "def main(n): return {'x': n}", function: main, kwargs: {n: "${n}"}}
  second:
    type: python
    files: [{from: first, path: out/t.csv, as: t.csv}]
    inputs:
      code: "def main(x): return {'y': x}"
      function: main
      kwargs: {x: {from: first, result: x}}
"""


def write(folder: Path, text: str, name: str = "pipeline.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def refusal(folder: Path, text: str) -> PipelineFileError:
    path = write(folder, text)
    with pytest.raises(PipelineFileError) as refused:
        load(path)
    assert str(refused.value).startswith(f"{path}: ")
    return refused.value


def test_the_example_is_two_steps_the_second_taking_a_file_and_a_result_from_the_first() -> None:
    pipeline = load(EXAMPLE / "pipeline.yaml")
    assert (pipeline.name, pipeline.cluster, pipeline.project) == ("integrate-sine", "local", None)
    assert pipeline.description.startswith("Tabulate sin(x)")
    spec = pipeline.spec
    assert spec.parameters == {"n": 201, "upper": math.pi}
    assert list(spec.steps) == ["table", "integrate"]
    table, integrate = spec.steps["table"], spec.steps["integrate"]
    assert (table.step, table.name, table.type, table.after) == ("table", "tabulate sin(x)", "python", [])
    assert table.inputs["code"] == (EXAMPLE / "tabulate.py").read_text()
    assert table.inputs["kwargs"] == {"n": "${n}", "upper": "${upper}"}, "left for the server"
    assert table.outputs == ["table.csv"] and table.resources.cores == 1
    assert (integrate.step, integrate.name, integrate.cluster) == ("integrate", "integrate", "local")
    assert integrate.after == [
        Parent(step="table", files=[FileFrom(path="table.csv")], results={"kwargs.rows": "rows"})
    ]
    assert integrate.inputs["kwargs"] == {"path": "table.csv"}, "the result reference is taken out"
    assert integrate.inputs["code"] == (EXAMPLE / "integrate.py").read_text()
    assert PipelineSpec.model_validate(spec.model_dump(by_alias=True)) == spec, "it goes over the wire"
    StudyCreate(study=pipeline.name, description=pipeline.description, pipeline=spec)


def test_needs_files_and_results_from_one_parent_make_one_link_in_the_order_named(tmp_path: Path) -> None:
    pipeline = load(
        write(
            tmp_path,
            GOOD
            + """\
  third:
    command: [cat, t.csv, y.txt]
    needs: [second]
    files:
      - {from: first, path: out/t.csv, as: t.csv}
      - {from: second, path: y.txt}
""",
        )
    )
    third = pipeline.spec.steps["third"]
    assert [(p.step, [f.target for f in p.files], p.results) for p in third.after] == [
        ("second", ["y.txt"], {}),
        ("first", ["t.csv"], {}),
    ]
    second = pipeline.spec.steps["second"]
    assert second.after[0].files == [FileFrom(path="out/t.csv", **{"as": "t.csv"})]
    assert second.after[0].results == {"kwargs.x": "x"}
    assert second.inputs["kwargs"] == {}


def test_a_file_is_read_as_it_is_and_escaped_so_the_server_gives_it_back(tmp_path: Path) -> None:
    write(tmp_path, 'echo "${HOME}" $${n}\n', "run.sh")
    path = write(
        tmp_path,
        """\
        name: shell
        steps:
          run:
            type: shell
            inputs: {script: {file: run.sh}, args: [{file: run.sh}]}
        """,
    )
    inputs = load(path).spec.steps["run"].inputs
    assert inputs["script"] == 'echo "$${HOME}" $$${n}\n'
    assert inputs["args"] == [inputs["script"]]


def test_parameters_are_checked_in_inputs_and_env_and_other_keys_are_left_alone(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: shell
        parameters: {n: 3}
        steps:
          run: {command: [sh, -c, "echo ${HOME} ${"], env: {N: "${n}"}}
        """,
    )
    run = load(path).spec.steps["run"]
    assert run.command == ["sh", "-c", "echo ${HOME} ${"]
    assert run.env == {"N": "${n}"}
    refused = refusal(tmp_path, path.read_text().replace("${n}", "${m}"))
    assert (refused.where, refused.message) == (
        "steps.run.env.N",
        "no parameter named 'm'; the parameters are: n",
    )


def test_yaml_dates_stay_text_and_exponents_are_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: typed
        parameters: {tol: 1e-6, day: 2024-01-31, big: 2E+3}
        steps:
          s: {command: [env], env: {TOL: "${tol}", DAY: "${day}", BIG: "${big}"}}
        """,
    )
    assert load(path).spec.parameters == {"tol": 1e-6, "day": "2024-01-31", "big": 2000.0}


@pytest.mark.parametrize(
    ("text", "where", "said"),
    [
        (
            GOOD.replace("from: first, path", "from: frist, path"),
            "steps.second.files[0]",
            "no step named 'frist'; the steps are: first, second",
        ),
        (
            GOOD.replace("from: first, result", "from: nope, result"),
            "steps.second.inputs.kwargs.x",
            "no step named 'nope'",
        ),
        (GOOD + "    needs: [firts]\n", "steps.second.needs[0]", "no step named 'firts'"),
        (
            GOOD + "    need: [first]\n",
            "steps.second.need",
            "unknown key; did you mean 'needs'? a step has: type",
        ),
        (GOOD + "    cluster: big\n", "steps.second.cluster", "unknown key; a step has: type, command"),
        ("version: 2\n" + GOOD, "version", "unknown key; a pipeline file has: name, description"),
        (
            GOOD.replace("${n}", "${m}"),
            "steps.first.inputs.kwargs.n",
            "no parameter named 'm'; the parameters are: n",
        ),
        (
            GOOD.replace("parameters: {n: 3}\n", ""),
            "steps.first.inputs.kwargs.n",
            "the pipeline declares none",
        ),
        (GOOD.replace('"${n}"', '"${n"'), "steps.first.inputs.kwargs.n", "'${' is not closed"),
        (GOOD.replace("{n: 3}", "{n.x: 3}"), "parameters.n.x", "is not a parameter name"),
        (
            GOOD.replace("kwargs: {x: {from: first, result: x}}", "args: [{from: first, result: x}]"),
            "steps.second.inputs.args[0]",
            "a result can fill an input or a key of an object input, not an item of a list",
        ),
        (
            GOOD.replace("path: out/t.csv", "path: ../t.csv"),
            "steps.second.files[0].path",
            "must be a relative path",
        ),
        (
            GOOD.replace("from: first, path: out/t.csv, as: t.csv", "from: first"),
            "steps.second.files[0]",
            "{from: STEP, path: FILE}",
        ),
        (GOOD.replace("name: two-steps", "name: two steps"), "name", "a name is letters, digits"),
        (GOOD.replace("name: two-steps\n", ""), "name", "is missing"),
        (GOOD.replace("name: two-steps", "name: two-steps\ncluster: -x"), "cluster", "a name is letters"),
        (
            GOOD + "    resources: {cores: 0}\n",
            "steps.second.resources.cores",
            "greater than or equal to 1 (got 0)",
        ),
        (
            GOOD + "    priority: ${n}\n",
            "steps.second.priority",
            "parameters are written into a step's inputs and env only",
        ),
        (
            GOOD.replace("type: python\n    files", "files"),
            "steps.second",
            "results from a parent fill a type's inputs; give this calculation a type",
        ),
        (GOOD + "  third: {needs: [first]}\n", "steps.third", "give a command to run, or a calculation type"),
        (GOOD.replace("first:\n", "first step:\n"), "steps.first step", "a step's key is letters"),
        ("name: x\nsteps: {}\n", "steps", "give at least one step"),
        ("name: x\n", "steps", "give at least one step"),
        ("", "", "the file is empty"),
        ("- a\n", "", "a pipeline file is a mapping"),
        (
            GOOD + "  first: {command: [true]}\n",
            "line 14, column 3",
            "not valid YAML: the key 'first' is given twice",
        ),
        (GOOD + "  third: [a\n", "line 15, column 1", "not valid YAML"),
        ("name: x\nsteps:\n  a: {command: [x]\n  b: 1\n", "line 4, column 3", "not valid YAML"),
    ],
)
def test_a_file_that_cannot_be_run_is_refused_saying_where_and_what_to_fix(
    tmp_path: Path, text: str, where: str, said: str
) -> None:
    refused = refusal(tmp_path, text)
    assert refused.where == where
    assert said in refused.message, refused.message


def test_a_cycle_is_refused_and_named(tmp_path: Path) -> None:
    refused = refusal(
        tmp_path,
        """\
        name: loop
        steps:
          a: {command: [a], needs: [c]}
          b: {command: [b], files: [{from: a, path: x}]}
          c: {command: [c], needs: [b]}
          d: {command: [d], needs: [d]}
        """,
    )
    assert (refused.where, refused.message) == (
        "steps",
        "steps that wait for each other never run: a -> c -> b -> a; break the circle",
    )


def test_a_missing_file_is_refused_with_where_it_was_looked_for(tmp_path: Path) -> None:
    refused = refusal(
        tmp_path, GOOD.replace("code: \"def main(n): return {'x': n}\"", "code: {file: tabulat.py}")
    )
    assert refused.where == "steps.first.inputs.code"
    assert (
        refused.message
        == f"no file 'tabulat.py' next to the pipeline file (looked for {tmp_path / 'tabulat.py'})"
    )
    refused = refusal(
        tmp_path, GOOD.replace("code: \"def main(n): return {'x': n}\"", "code: {file: '${n}.py'}")
    )
    assert "its name cannot use a parameter" in refused.message


def test_a_missing_pipeline_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PipelineFileError, match="no such file"):
        load(tmp_path / "nowhere.yaml")


def test_every_problem_the_wire_models_find_is_reported_one_per_line(tmp_path: Path) -> None:
    refused = refusal(tmp_path, GOOD + "    priority: 5000\n    max_attempts: 0\n")
    assert [where for where, _ in refused.problems] == ["steps.second.priority", "steps.second.max_attempts"]
    assert str(refused).count("\n") == 1


def test_sets_change_declared_parameters_read_as_yaml_scalars() -> None:
    pipeline = load(EXAMPLE / "pipeline.yaml")
    changed = with_sets(pipeline, ["n=401", "upper=1e-3", "upper = 2.5"])
    assert changed.spec.parameters == {"n": 401, "upper": 2.5}
    assert pipeline.spec.parameters["n"] == 201, "the file read is left as it was"
    assert with_sets(pipeline, ["n=abc"]).spec.parameters["n"] == "abc"
    assert with_sets(pipeline, ["n=[1, 2]"]).spec.parameters["n"] == "[1, 2]"
    assert with_sets(pipeline, ["n=true", "upper="]).spec.parameters == {"n": True, "upper": ""}
    assert isinstance(changed, PipelineFile)


@pytest.mark.parametrize(
    ("item", "said"),
    [
        ("m=3", "--set m=3: no parameter named 'm'; the parameters are: n, upper"),
        ("n", "--set n: write --set NAME=VALUE"),
        ("=3", "--set =3: write --set NAME=VALUE"),
    ],
)
def test_a_set_of_an_undeclared_parameter_is_refused_naming_the_declared_ones(item: str, said: str) -> None:
    with pytest.raises(PipelineFileError) as refused:
        with_sets(load(EXAMPLE / "pipeline.yaml"), [item])
    assert str(refused.value) == said


def test_a_cluster_sends_every_step_there() -> None:
    moved = with_cluster(load(EXAMPLE / "pipeline.yaml"), "big-iron")
    assert moved.cluster == "big-iron"
    assert {step.cluster for step in moved.spec.steps.values()} == {"big-iron"}
    with pytest.raises(PipelineFileError, match="--cluster no way: a cluster's name is"):
        with_cluster(moved, "no way")


def test_the_example_scripts_integrate_sine_to_two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    tabulate = runpy.run_path(str(EXAMPLE / "tabulate.py"), run_name="calchub_main")["main"]
    integrate = runpy.run_path(str(EXAMPLE / "integrate.py"), run_name="calchub_main")["main"]
    made = tabulate(n=2001, upper=math.pi)
    assert made == {"rows": 2001}
    found = integrate(path="table.csv", rows=made["rows"])
    assert found["rows"] == 2001
    assert abs(found["integral"] - 2) < 1e-4
    assert found["error"] < 1e-4
    with pytest.raises(ValueError, match="has 2001 rows, but the step that wrote it made 2000"):
        integrate(path="table.csv", rows=2000)
