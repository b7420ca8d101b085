"""Write a model package: its manifest, a small HTTP server, requirements, a Dockerfile, a README.

The server, ``serve.py``, speaks SageMaker's container contract with the standard library
alone, so the folder runs under calchub's process runtime as it is, and built into an image
as a SageMaker-style container. The files are rendered from ``templates/``; the manifest is
dumped from a mapping (so that any description is quoted right) and checked as
registration checks it, before anything is written.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path
from typing import Any

import jinja2
import yaml

from calchub.contracts.models import MANIFEST
from calchub.models.package import manifest_from_text

#: The saved model's file name in a package, by framework.
MODEL_FILES = {"sklearn": "model.joblib", "torch": "model.pt"}
REQUIREMENTS = {
    "sklearn": ["scikit-learn>=1.3", "joblib>=1.3", "numpy>=1.24"],
    # TorchScript (torch.jit) is deprecated upstream: a release that drops it is kept out.
    "torch": ["torch>=2.0,<2.15", "numpy>=1.24"],
}


def scaffold(
    folder: Path,
    name: str,
    framework: str = "sklearn",
    *,
    model_file: Path | None = None,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    description: str = "",
    version: str = "1",
    force: bool = False,
) -> list[Path]:
    """Write a model package into ``folder``; the files written.

    ``folder`` must be missing or empty; ``force`` writes into it all the same, replacing
    the package's files and leaving the others (a model saved there before) as they are.
    ``model_file`` is copied in under the framework's name (see :data:`MODEL_FILES`).
    """
    if framework not in MODEL_FILES:
        raise ValueError(f"unknown framework {framework!r}; choose {' or '.join(MODEL_FILES)}")
    inputs, outputs = inputs or None, outputs or None
    manifest = _manifest(name, version, description, inputs, outputs)
    if model_file is not None and not model_file.is_file():
        raise FileNotFoundError(f"no model file at {model_file}")
    _make_room(folder, force)
    context = {
        "name": name,
        "description": description,
        "framework": framework,
        "model_file": MODEL_FILES[framework],
        "inputs": inputs,
        "outputs": outputs,
        "examples": _examples(inputs),
    }
    templates = _environment()
    texts = {
        MANIFEST: manifest,
        "serve.py": templates.get_template("serve.py.txt").render(context),
        "requirements.txt": "\n".join(REQUIREMENTS[framework]) + "\n",
        "Dockerfile": templates.get_template("Dockerfile.txt").render(context),
        # What `COPY . .` leaves out: an environment built for `python: venv`, caches.
        ".dockerignore": ".venv/\n__pycache__/\n*.pyc\n.git/\n",
        "README.md": templates.get_template("README.md.txt").render(context),
    }
    written = [folder / file_name for file_name in texts]
    for path, text in zip(written, texts.values(), strict=True):
        path.write_text(text, encoding="utf-8")
    if model_file is not None:
        written.append(_copy(model_file, folder / MODEL_FILES[framework]))
    return written


def _manifest(
    name: str, version: str, description: str, inputs: list[str] | None, outputs: list[str] | None
) -> str:
    fields: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": description,
        "runtime": "process",
        "command": ["python", "serve.py"],
        "python": "server",
    }
    for key, columns in (("inputs", inputs), ("outputs", outputs)):
        if columns:
            fields[key] = {"columns": columns}
    text = yaml.safe_dump(fields, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)
    text = "# How calchub runs this model package (README.md says more).\n" + text
    manifest_from_text(text)  # registration's own check, before anything is written
    return text


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("calchub.models", "templates"),
        autoescape=False,  # Python, a Dockerfile and Markdown: nothing is HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["py"] = _literal
    return environment


def _literal(value: str | list[str] | None) -> str:
    """``value`` as a Python literal for ``serve.py``, double-quoted as ruff formats it.

    A JSON string is a Python string literal too: its escapes are all Python's.
    """
    return "None" if value is None else json.dumps(value, ensure_ascii=False)


def _make_room(folder: Path, force: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} is a file; choose a folder for the model package")
    if not force and folder.is_dir() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty; choose a new folder, or force to write into it")
    folder.mkdir(parents=True, exist_ok=True)


def _copy(source: Path, target: Path) -> Path:
    if not (target.exists() and target.samefile(source)):
        shutil.copyfile(source, target)
    return target


def _examples(inputs: list[str] | None) -> dict[str, str]:
    """The README's example requests: one row as a list, as an object, and as CSV (for ``$'...'``)."""
    values = [float(i) for i in range(1, (len(inputs) if inputs else 2) + 1)]
    csv_lines = ([",".join(inputs)] if inputs else []) + [",".join(map(str, values))]
    return {
        "json": json.dumps({"instances": [values]}),
        "objects": json.dumps({"instances": [dict(zip(inputs, values, strict=True))]}) if inputs else "",
        "csv": "\\n".join(csv_lines) + "\\n",
    }
