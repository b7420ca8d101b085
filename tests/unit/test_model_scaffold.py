"""The model package scaffold: what it writes, and what it refuses (no processes here)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from calchub.contracts.models import MANIFEST, ModelSpec, Python, Runtime
from calchub.models.package import PackageError
from calchub.models.scaffold import scaffold

FILES = {MANIFEST, "serve.py", "requirements.txt", "Dockerfile", ".dockerignore", "README.md"}


def _manifest(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((folder / MANIFEST).read_text(encoding="utf-8"))
    return loaded


def _constants(serve_py: Path) -> dict[str, Any]:
    """serve.py's top-level constants that are literals, read without running it."""
    tree = ast.parse(serve_py.read_text(encoding="utf-8"))
    constants: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return constants


def test_a_package_has_its_files_and_a_manifest_that_validates(tmp_path: Path) -> None:
    folder = tmp_path / "lj-energy"
    written = scaffold(folder, "lj-energy", description="potential energy per atom")

    assert {path.name for path in written} == FILES
    assert sorted(folder.iterdir()) == sorted(written)
    spec = ModelSpec.model_validate(_manifest(folder))
    assert (spec.name, spec.version, spec.description) == ("lj-energy", "1", "potential energy per atom")
    assert (spec.runtime, spec.command, spec.python) == (
        Runtime.PROCESS,
        ["python", "serve.py"],
        Python.SERVER,
    )
    assert spec.inputs is None and spec.outputs is None


def test_the_version_is_a_string_and_any_description_survives(tmp_path: Path) -> None:
    description = "energy: per atom, in 'LJ' units\n# not a comment"
    scaffold(tmp_path / "m", "m", version="2", description=description)

    manifest = _manifest(tmp_path / "m")
    assert manifest["version"] == "2"
    assert manifest["description"] == description


def test_columns_reach_the_manifest_and_serve_py(tmp_path: Path) -> None:
    inputs, outputs = ["temperature", "density", 'odd "name", ünï'], ["energy"]
    scaffold(tmp_path / "m", "m", inputs=inputs, outputs=outputs)

    spec = ModelSpec.model_validate(_manifest(tmp_path / "m"))
    assert spec.inputs is not None and spec.inputs.columns == inputs
    assert spec.outputs is not None and spec.outputs.columns == outputs
    constants = _constants(tmp_path / "m" / "serve.py")
    assert (constants["NAME"], constants["INPUTS"], constants["OUTPUTS"]) == ("m", inputs, outputs)


def test_without_columns_serve_py_takes_unnamed_rows(tmp_path: Path) -> None:
    scaffold(tmp_path / "m", "m", inputs=[])

    assert "inputs" not in _manifest(tmp_path / "m")
    assert _constants(tmp_path / "m" / "serve.py")["INPUTS"] is None


@pytest.mark.parametrize(
    ("framework", "model_file", "loads", "requirements"),
    [
        ("sklearn", "model.joblib", "joblib.load(", {"scikit-learn", "joblib", "numpy"}),
        ("torch", "model.pt", "torch.jit.load(", {"torch", "numpy"}),
    ],
)
def test_each_framework_has_its_server_and_requirements(
    tmp_path: Path, framework: str, model_file: str, loads: str, requirements: set[str]
) -> None:
    scaffold(tmp_path / "m", "m", framework)

    serve_py = (tmp_path / "m" / "serve.py").read_text(encoding="utf-8")
    compile(serve_py, "serve.py", "exec")
    assert loads in serve_py
    assert _constants(tmp_path / "m" / "serve.py")["MODEL_FILE"] == model_file
    lines = (tmp_path / "m" / "requirements.txt").read_text(encoding="utf-8").split()
    assert {line.split(">=")[0] for line in lines} == requirements
    assert all(">=" in line for line in lines)
    assert all(">=" in line for line in lines)
    readme = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert model_file in readme


@pytest.mark.parametrize(("framework", "saved_as"), [("sklearn", "model.joblib"), ("torch", "model.pt")])
def test_a_model_file_is_copied_in_under_the_frameworks_name(
    tmp_path: Path, framework: str, saved_as: str
) -> None:
    trained = tmp_path / "trained.bin"
    trained.write_bytes(b"\x00model bytes\xff")

    written = scaffold(tmp_path / "m", "m", framework, model_file=trained)

    assert tmp_path / "m" / saved_as in written
    assert (tmp_path / "m" / saved_as).read_bytes() == trained.read_bytes()


def test_the_readme_and_dockerfile_say_how_to_run_it(tmp_path: Path) -> None:
    scaffold(tmp_path / "m", "lj-energy", inputs=["temperature", "density"])

    readme = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    for text in (
        "joblib.dump(",
        "PORT=8080 python serve.py",
        "text/csv",
        '{"temperature": 1.0, "density": 2.0}',
        "calchub model register .",
        "calchub model start lj-energy",
        "calchub model predict lj-energy --json",
    ):
        assert text in readme
    dockerfile = (tmp_path / "m" / "Dockerfile").read_text(encoding="utf-8")
    for text in ("FROM python:3.11-slim", "ENV HOST=0.0.0.0 PORT=8080", "EXPOSE 8080"):
        assert text in dockerfile
    assert dockerfile.splitlines()[-1] == 'ENTRYPOINT ["python", "serve.py"]'


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(FileExistsError, match="not empty"):
        scaffold(tmp_path, "m")
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_force_rewrites_the_package_and_leaves_other_files(tmp_path: Path) -> None:
    scaffold(tmp_path / "m", "m")
    (tmp_path / "m" / "model.joblib").write_bytes(b"saved earlier")
    (tmp_path / "m" / "serve.py").write_text("edited")

    scaffold(tmp_path / "m", "m", version="2", force=True)

    assert _manifest(tmp_path / "m")["version"] == "2"
    assert "ThreadingHTTPServer" in (tmp_path / "m" / "serve.py").read_text(encoding="utf-8")
    assert (tmp_path / "m" / "model.joblib").read_bytes() == b"saved earlier"


def test_an_empty_folder_is_used(tmp_path: Path) -> None:
    assert {path.name for path in scaffold(tmp_path, "m")} == FILES


def test_an_unknown_framework_is_refused_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sklearn or torch"):
        scaffold(tmp_path / "m", "m", "tensorflow")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("name", "version", "field"), [("no spaces allowed", "1", "name"), ("m", "", "version")]
)
def test_a_manifest_that_would_not_validate_is_refused_before_writing(
    tmp_path: Path, name: str, version: str, field: str
) -> None:
    with pytest.raises(PackageError, match=f"{MANIFEST}: {field}: String should match pattern"):
        scaffold(tmp_path / "m", name, version=version)
    assert not (tmp_path / "m").exists()


def test_a_missing_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model file"):
        scaffold(tmp_path / "m", "m", model_file=tmp_path / "absent.joblib")
    assert not (tmp_path / "m").exists()
