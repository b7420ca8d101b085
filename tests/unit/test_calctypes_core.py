"""The plug-in API without a server: registration checks, the analysis graph, inputs, post-processing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from calchub.calctypes import Analysis, AnalysisContext, CalcType, Results, RunDir, TypeRefused, Upload
from calchub.calctypes.declarative import from_spec
from calchub.calctypes.graph import check_graph, in_order, selection_problems
from calchub.calctypes.inputs import check_request, with_defaults
from calchub.calctypes.postprocess import clean_up, postprocess
from calchub.calctypes.registry import Registry, discover, load_folder, register_check


def _step(name: str) -> Any:
    def run(ctx: AnalysisContext) -> None:
        ctx.results.scalar(f"{name}_ran", len(ctx.results.scalars))

    return run


def _a(name: str, *needs: str, default: bool = True) -> Analysis:
    return Analysis(name, _step(name), needs, default=default)


class Toy(CalcType):
    name = "toy"
    version = "1.0"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "n": {"type": "integer", "minimum": 1, "default": 3},
            "opts": {"type": "object", "properties": {"tol": {"type": "number", "default": 0.1}}},
        },
    }
    uploads = (Upload("model.py"), Upload("*.dat", required=False))
    templates: ClassVar[dict[str, str]] = {"in.txt": "n={{ n }} tol={{ opts.tol }}"}
    command: ClassVar[list[str]] = ["run", "--n={{ n }}"]
    provides = ("data",)
    analyses = (_a("plot", "summary"), _a("summary", "data"), _a("extra", "data", default=False))
    cleanup: ClassVar[list[str]] = ["*.raw", "dump/*"]

    def validate(self, run: RunDir) -> list[str]:
        return [] if run.exists("done") else ["no 'done' file: the run stopped early"]

    def extract(self, run: RunDir, results: Results) -> None:
        results.scalar("data", float(run.text("out.txt")), "eV", 0.5)


def test_analyses_run_after_what_they_need_and_in_declaration_order_otherwise() -> None:
    order = [a.name for a in in_order(Toy.analyses, ["plot", "summary", "extra"])]
    assert order == ["summary", "plot", "extra"]
    assert [a.name for a in in_order(Toy.analyses, ["extra"])] == ["extra"]


def test_a_cycle_is_refused_naming_its_path() -> None:
    with pytest.raises(TypeRefused, match=r"cycle: a -> b -> c -> a"):
        check_graph("t", ["x"], [_a("a", "b"), _a("b", "c"), _a("c", "a", "x")])
    with pytest.raises(TypeRefused, match="cycle: a -> a"):
        check_graph("t", [], [_a("a", "a")])


def test_a_missing_dependency_a_duplicate_and_a_clash_are_refused() -> None:
    with pytest.raises(TypeRefused, match="analysis 'a' needs 'y', which no extractor provides"):
        check_graph("t", ["x"], [_a("a", "x", "y")])
    with pytest.raises(TypeRefused, match="'a' is declared twice"):
        check_graph("t", ["x"], [_a("a"), _a("a")])
    with pytest.raises(TypeRefused, match="'x' names both extracted data and an analysis"):
        check_graph("t", ["x"], [_a("x")])


def test_a_selection_without_what_it_needs_is_refused_clearly() -> None:
    assert selection_problems(Toy.analyses, ["plot"]) == [
        "analysis 'plot' needs analysis 'summary'; select it too"
    ]
    assert selection_problems(Toy.analyses, ["fft"]) == [
        "there is no analysis 'fft'; this type has: plot, summary, extra"
    ]
    assert selection_problems(Toy.analyses, ["summary", "plot"]) == []


def test_inputs_get_defaults_and_every_problem_names_field_and_rule() -> None:
    assert with_defaults(Toy.schema, {"opts": {}}) == {"n": 3, "opts": {"tol": 0.1}}
    filled, chosen, problems = check_request(Toy(), {"n": 2}, ["model.py", "a.dat"], None)
    assert (filled, chosen, problems) == ({"n": 2}, ["plot", "summary"], [])
    _, _, problems = check_request(Toy(), {"n": 0, "opts": {"tol": "x"}}, ["notes.txt"], ["plot"])
    found = {(p.field, p.rule) for p in problems}
    assert found == {
        ("inputs.n", "minimum"),
        ("inputs.opts.tol", "type"),
        ("analyses", "needs"),
        ("files.notes.txt", "uploads"),
        ("files.model.py", "required"),
    }


def test_prepare_renders_files_and_command_from_the_inputs() -> None:
    prepared = Toy().prepare({"n": 4, "opts": {"tol": 0.5}})
    assert prepared.command == ["run", "--n=4"]
    assert prepared.files == {"in.txt": "n=4 tol=0.5"}


def test_filled_in_inputs_share_nothing_with_the_request_or_the_schema() -> None:
    given = {"opts": {}, "n": 2}
    filled = with_defaults(Toy.schema, given)
    filled["opts"]["tol"] = 9.0
    assert given == {"opts": {}, "n": 2}
    assert Toy.schema["properties"]["opts"]["properties"]["tol"]["default"] == 0.1
    assert (
        with_defaults({"properties": {"x": {"default": {"a": [1]}}}}, {})["x"]
        is not with_defaults({"properties": {"x": {"default": {"a": [1]}}}}, {})["x"]
    )


@pytest.mark.parametrize(
    ("template", "variables"),
    [
        ("{{ script }}", {"script": "echo 1\n"}),
        ("echo {{ a }} {{b}}!", {"a": "'x y'", "b": "2"}),
        ("plain text\n", {}),
        ("", {}),
        ("a\r\nb", {}),  # Jinja2 writes its own newlines
        ("{# a comment #}x {%- raw %} {{ kept }}{% endraw %}", {}),
        ("{{ a }}  {{- b }}", {"a": "1", "b": "2"}),
        ("{{ n }}", {"n": 3}),  # not a string: Jinja2 writes it
        ("{{ true }}", {"true": "a variable"}),  # a constant to Jinja2
        ("{{ a|quote }}", {"a": "x y"}),
        ("{% if a %}{{ a }}{% endif %}", {"a": "yes"}),
    ],
)
def test_templates_of_text_and_names_render_as_jinja2_renders_them(
    template: str, variables: dict[str, Any]
) -> None:
    from calchub.calctypes.render import _environment, render

    assert render(template, variables, "here") == _environment().from_string(template).render(**variables)


def test_a_template_that_cannot_render_says_where() -> None:
    from calchub.calctypes.render import RenderError, render

    with pytest.raises(RenderError, match="here: 'missing' is undefined"):
        render("echo {{ missing }}", {"other": "x"}, "here")
    with pytest.raises(RenderError, match="here: "):
        render("echo {{ a", {"a": "x"}, "here")


def test_registration_checks_name_version_command_and_schema() -> None:
    register_check(Toy())

    class NoVersion(Toy):
        version = ""

    class BadSchema(Toy):
        schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {"n": {"type": "whole"}}}

    class Cyclic(Toy):
        analyses = (_a("a", "b"), _a("b", "a"))

    class Greedy(Toy):
        resources: ClassVar[dict[str, Any]] = {"cores": 0, "memory": "lots"}

    registry = Registry()
    for cls in (NoVersion, BadSchema, Cyclic, Greedy):
        registry.add(cls(), cls.__name__)
    assert set(registry.types) == set()
    assert "version must be a non-empty string" in registry.refused["NoVersion"]
    assert "not valid JSON Schema" in registry.refused["BadSchema"]
    assert "cycle" in registry.refused["Cyclic"]
    assert (
        "default resources: cores: Input should be greater than or equal to 1" in registry.refused["Greedy"]
    )
    registry.add(Toy(), "first")
    registry.add(Toy(), "second")
    assert registry.refused["second"] == "type 'toy' is already defined by first"


def _run_dir(tmp_path: Path, done: bool = True) -> RunDir:
    (tmp_path / "out.txt").write_text("-2.5")
    if done:
        (tmp_path / "done").write_text("")
    (tmp_path / "big.raw").write_bytes(b"x" * 1000)
    (tmp_path / "dump").mkdir()
    (tmp_path / "dump" / "frame1").write_bytes(b"y" * 500)
    (tmp_path / "dump" / "keep.me").write_bytes(b"z" * 7)
    (tmp_path / ".calchub").mkdir()
    (tmp_path / ".calchub" / "stdout.raw").write_bytes(b"own")
    return RunDir(tmp_path, {"n": 3})


def test_postprocess_validates_extracts_analyses_and_cleans_up(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    done = postprocess(Toy(), run, ["summary", "plot"], keep=["dump/keep.me"])
    assert (done.verdict, done.message) == ("completed", None)
    scalars = {s.name: (s.value, s.source) for s in done.results.scalars}
    assert scalars == {"data": (-2.5, "extract"), "summary_ran": (1, "summary"), "plot_ran": (2, "plot")}
    assert (done.results.bytes_freed, done.results.files_removed) == (1500, 2)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "done",
        "keep.me",
        "out.txt",
        "stdout.raw",
    ]


def test_a_failed_validation_is_invalid_and_cleans_nothing(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, done=False)
    done = postprocess(Toy(), run, ["summary"], keep=[])
    assert (done.verdict, done.message) == ("invalid", "no 'done' file: the run stopped early")
    assert (tmp_path / "big.raw").exists() and done.results.scalars == []


def test_an_extractor_or_analysis_that_raises_fails_the_run_and_keeps_the_files(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    (tmp_path / "out.txt").write_text("not a number")
    done = postprocess(Toy(), run, [], keep=[])
    assert done.verdict == "failed"
    assert done.message is not None and done.message.startswith(
        "extraction raised ValueError: could not convert"
    )

    class Broken(Toy):
        analyses = (Analysis("boom", lambda ctx: 1 / 0, ("data",)),)

    (tmp_path / "out.txt").write_text("1.0")
    done = postprocess(Broken(), run, ["boom"], keep=[])
    assert done.verdict == "failed" and "analysis 'boom' raised ZeroDivisionError" in (done.message or "")
    assert [s.name for s in done.results.scalars] == ["data"]
    assert (tmp_path / "big.raw").exists()


def test_clean_up_never_follows_symlinks_or_touches_calchubs_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside.raw"
    outside.write_bytes(b"precious")
    work = tmp_path / "work"
    (work / ".calchub").mkdir(parents=True)
    (work / ".calchub" / "log.raw").write_bytes(b"log")
    (work / "link.raw").symlink_to(outside)
    assert clean_up(work, ["*.raw", "**"], keep=[]) == (0, 0)
    assert outside.exists() and (work / ".calchub" / "log.raw").exists()


def test_results_refuse_ragged_tables_and_drop_non_finite_numbers() -> None:
    results = Results()
    results.scalar("x", float("nan"), error=float("inf"))
    assert (results.scalars["x"].value, results.scalars["x"].error) == (None, None)
    with pytest.raises(ValueError, match="row 1 has 1 cells, not 2"):
        results.table("t", ["a", "b"], [[1, 2], [3]])
    results.table("t", ["a"], [[float("nan")], [2]])
    assert results.tables["t"].rows == [[None], [2]]


YAML_SPEC = {
    "name": "yamltoy",
    "version": "1",
    "command": ["bash", "-c", "true"],
    "validate": [{"exists": "out.txt"}, {"absent": {"file": "stdout", "pattern": "ERROR"}}],
    "extract": [{"scalar": {"name": "e", "file": "out.txt", "pattern": r"E=(\S+)", "unit": "Ha"}}],
}


def test_yaml_types_validate_and_extract_with_their_declared_rules(tmp_path: Path) -> None:
    calctype = from_spec(YAML_SPEC, "text", "yamltoy.yaml")
    register_check(calctype)
    run = RunDir(tmp_path, {})
    assert calctype.validate(run) == ["the run did not write 'out.txt'"]
    (tmp_path / "out.txt").write_text("E=1\nE=-7.25\n")
    (tmp_path / ".calchub").mkdir()
    (tmp_path / ".calchub" / "stdout").write_text("step 1\nERROR: diverged at step 2\n")
    assert calctype.validate(run) == ["stdout says: ERROR: diverged at step 2"]
    results = Results()
    calctype.extract(run, results)
    assert (results.scalars["e"].value, results.scalars["e"].unit) == (-7.25, "Ha")
    assert calctype.digest() != from_spec(YAML_SPEC, "other text", "yamltoy.yaml").digest()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "a calculation type is a mapping"),
        ({"name": "x", "version": "1"}, "'command' is required"),
        ({"name": "x", "version": "1", "command": "run"}, "'command' must be a list"),
        ({"name": "x", "version": "1", "command": ["run"], "colour": 1}, "unknown key 'colour'"),
        ({"name": "x", "version": "1", "command": ["run"], "validate": [{"smells": 1}]}, "exactly one of"),
    ],
)
def test_yaml_mistakes_are_refused_saying_what_to_fix(spec: Any, message: str) -> None:
    with pytest.raises(TypeRefused, match=message):
        from_spec(spec, "", "x.yaml")


PY_TYPE = """
from calchub.calctypes import CalcType

class Greeting(CalcType):
    name = "greeting"
    version = "0.3"
    command = ["echo", "hello"]
"""


def test_a_folder_holds_yaml_and_python_types_and_broken_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "calctypes").mkdir()
    (tmp_path / "calctypes" / "greeting.py").write_text(PY_TYPE)
    (tmp_path / "calctypes" / "bad.py").write_text("raise RuntimeError('oops')")
    (tmp_path / "calctypes" / "notes.txt").write_text("ignored")
    registry = Registry()
    load_folder(registry, tmp_path / "calctypes")
    assert registry.get("greeting").version == "0.3"
    assert "could not be imported: RuntimeError: oops" in next(iter(registry.refused.values()))
    with pytest.raises(LookupError, match="no calculation type 'nope'; known types: greeting"):
        registry.get("nope")


def test_the_builtins_all_register() -> None:
    registry = discover(None, plugins=False)
    assert registry.refused == {}
    assert {"shell", "python", "bumps", "lammps"} <= set(registry.types)


@pytest.mark.parametrize(
    ("path", "pattern", "matches"),
    [
        ("a.dat", "*.dat", True),
        ("out/a.dat", "*.dat", False),
        ("out/a.dat", "out/*", True),
        ("out/deep/a.dat", "out/*", False),
        ("out/deep/a.dat", "out/**/*.dat", True),
        ("out/a.dat", "out/**/*.dat", True),
        ("out/deep/a.dat", "**", True),
        ("dump.lj.atom", "dump.*", True),
    ],
)
def test_globs_mean_what_pathlib_means_everywhere(path: str, pattern: str, matches: bool) -> None:
    from calchub.calctypes.paths import glob_match

    assert glob_match(path, pattern) is matches
    assert Upload(pattern, required=False).matches(path) is matches


class _Point:
    def __init__(self, name: str, loaded: object) -> None:
        self.name, self.value, self._loaded = name, f"pkg:{name}", loaded

    def load(self) -> object:
        if isinstance(self._loaded, Exception):
            raise self._loaded
        return self._loaded


def test_types_come_from_the_calchub_calctypes_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from calchub.calctypes import registry as registry_module

    module = types.ModuleType("pkg_types")

    class FromModule(CalcType):
        name = "from_module"
        version = "2"
        command: ClassVar[list[str]] = ["true"]

    FromModule.__module__ = module.__name__
    module.FromModule = FromModule  # type: ignore[attr-defined]
    points = [
        _Point("toy", Toy),
        _Point("module", module),
        _Point("broken", ImportError("no module named pkg")),
        _Point("odd", 42),
    ]
    monkeypatch.setattr(
        registry_module, "entry_points", lambda group: points if group == "calchub.calctypes" else []
    )
    found = discover(None, builtins=False)
    assert {name: t.version for name, t in found.types.items()} == {"toy": "1.0", "from_module": "2"}
    assert found.types["toy"].source == "entry point toy (pkg:toy)"
    assert found.refused == {
        "entry point broken (pkg:broken)": "could not be imported: no module named pkg",
        "entry point odd (pkg:odd)": "must name a CalcType subclass or a module that defines some",
    }
