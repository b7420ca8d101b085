"""calchub model: write a model package, register it, start, stop, watch and ask it for predictions."""

from __future__ import annotations

import json as jsonlib
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.status import Status

from calchub.cli.calcs import JsonOpt
from calchub.cli.output import connected, console, emit_json, fail, print_lines, state, table, when
from calchub.contracts.models import Model
from calchub.domain.models import ModelState

app = typer.Typer(
    help="ML models: package, register, start, stop, watch and ask for predictions.", no_args_is_help=True
)
VersionOpt = Annotated[
    str | None, typer.Option("--version", "-v", help="a version; the current one if left out")
]
#: How often `logs --follow` asks for more.
FOLLOW_SECONDS = 0.5


def register(cli: typer.Typer) -> None:
    cli.add_typer(app, name="model")


@app.command()
def scaffold(
    name: Annotated[str, typer.Argument(help="the model's name (letters, digits, . _ -)")],
    framework: Annotated[
        str, typer.Option(help="sklearn (a joblib file) or torch (a TorchScript file)")
    ] = "sklearn",
    from_: Annotated[
        Path | None, typer.Option("--from", help="the saved model to put in the package")
    ] = None,
    inputs: Annotated[str | None, typer.Option(help="the input columns, comma-separated")] = None,
    outputs: Annotated[str | None, typer.Option(help="the output columns, comma-separated")] = None,
    directory: Annotated[Path | None, typer.Option("--dir", help="where to write it (./NAME)")] = None,
    description: Annotated[str, typer.Option(help="what it predicts")] = "",
    version: Annotated[str, typer.Option(help="the package's version")] = "1",
    force: Annotated[bool, typer.Option(help="write into a folder that is not empty")] = False,
) -> None:
    """Write a ready model package: a small server with /ping and /invocations around a saved
    scikit-learn or PyTorch model, its manifest, requirements and Dockerfile."""
    from calchub.models.scaffold import scaffold as write

    folder = directory or Path(name)
    try:
        written = write(
            folder,
            name,
            framework,
            model_file=from_,
            inputs=_columns(inputs),
            outputs=_columns(outputs),
            description=description,
            version=version,
            force=force,
        )
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        fail(str(error))
    console.print(f"wrote {len(written)} files in {folder}/:", highlight=False)
    print_lines([f"  {path.relative_to(folder)}" for path in written])
    if from_ is None:
        console.print("save your model into it (see its README.md), then:", highlight=False)
    print_lines([f"  calchub model register {folder} --start"])


def _columns(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


@app.command("register")
def register_(
    folder: Annotated[Path, typer.Argument(help="the package folder, with its calchub-model.yaml")],
    project: Annotated[str | None, typer.Option(help="the project (the manifest's, or yours)")] = None,
    start_: Annotated[bool, typer.Option("--start", help="start it, and wait until it is healthy")] = False,
    json: JsonOpt = False,
) -> None:
    """Register a model version from its package (zipped and sent; .venv and caches left out)."""
    from calchub.models.package import PackageError, read_manifest

    try:
        spec = read_manifest(folder)
    except PackageError as error:
        fail(str(error))
    with connected() as client:
        with Status(f"sending {spec.name} {spec.version} ...", console=console):
            made = client.register_model(folder, project=project)
        if start_:
            client.start_model(made.name, made.version)
            made = _wait(client, made.name, made.version)
    if json:
        emit_json(made)
        return
    console.print(
        f"registered {made.name} {made.version} in {made.project} ({made.state.value})", highlight=False
    )
    if made.state is ModelState.FAILED:
        fail(made.message or "it failed to start")


@app.command("ls")
def list_(
    project: Annotated[str | None, typer.Option(help="only this project's")] = None,
    json: JsonOpt = False,
) -> None:
    """Every version of the models you can see, and how each is doing."""
    with connected() as client:
        found = client.models(project)
    if json:
        emit_json(found)
        return
    if not found:
        console.print("no models yet: `calchub model scaffold NAME` writes a package to register")
        return
    rows = [
        [
            m.name,
            m.version + (" *" if m.current else ""),
            m.project,
            m.runtime.value,
            state(m.state.value),
            when(m.last_ping_at),
            m.restarts,
        ]
        for m in found
    ]
    table(None, ["name", "version", "project", "runtime", "state", "last ping", "restarts"], rows)


@app.command()
def show(name: str, version: VersionOpt = None, json: JsonOpt = False) -> None:
    """One version (the current one), and the model's other versions."""
    with connected() as client:
        model = client.model(name, version)
        versions = client.model_versions(name)
    if json:
        emit_json(model)
        return
    _facts(model)
    rows = [
        [m.version + (" *" if m.current else ""), state(m.state.value), when(m.created_at)] for m in versions
    ]
    table("versions (* current)", ["version", "state", "registered"], rows)


def _facts(model: Model) -> None:
    what = " ".join(model.command) if model.image is None else model.image
    facts = [
        ("model", f"{model.name} {model.version}" + (" (current)" if model.current else "")),
        ("project", f"{model.project} (owner {model.owner})"),
        ("runtime", f"{model.runtime.value}: {what}"),
        ("state", f"{model.state.value}" + (" (wanted running)" if model.wanted else "")),
        ("message", model.message or "-"),
        ("where", f"{model.host}, pid {model.pid}, port {model.port}" if model.pid else "-"),
        ("last ping", when(model.last_ping_at)),
        ("last healthy", when(model.last_healthy_at)),
        ("restarts", f"{model.restarts} (failures in a row: {model.failures})"),
        ("inputs", ", ".join(model.inputs.columns or []) if model.inputs else "-"),
        ("outputs", ", ".join(model.outputs.columns or []) if model.outputs else "-"),
    ]
    table(None, ["", ""], facts)
    if model.description:
        print_lines(["", model.description])


@app.command()
def start(
    name: str,
    version: VersionOpt = None,
    wait: Annotated[bool, typer.Option(help="wait until it is healthy (or failed)")] = True,
    json: JsonOpt = False,
) -> None:
    """Start a model: the server runs it, pings it, and restarts it if it stops answering."""
    with connected() as client:
        model = client.start_model(name, version)
        if wait:
            model = _wait(client, name, model.version)
    if json:
        emit_json(model)
    else:
        console.print(f"{model.name} {model.version} is {model.state.value}", highlight=False)
    if model.state is ModelState.FAILED:
        fail(f"{model.message}; `calchub model logs {name}` shows what it printed")


@app.command()
def stop(name: str, version: VersionOpt = None, json: JsonOpt = False) -> None:
    """Stop a model (its process ends; invocations answer 503 until it is started again)."""
    with connected() as client:
        client.stop_model(name, version)
        model = _wait(client, name, version)
    if json:
        emit_json(model)
    else:
        console.print(f"{model.name} {model.version} is {model.state.value}", highlight=False)


def _wait(client: Any, name: str, version: str | None) -> Model:
    with Status(f"{name}: waiting ...", console=console) as status:

        def shown(model: Model) -> None:
            status.update(f"{model.name} {model.version}: {model.state.value} {model.message or ''}")

        result: Model = client.wait_model(name, version, progress=shown)
        return result


@app.command()
def current(name: str, version: str) -> None:
    """Make a version the one /models/NAME/invocations reaches."""
    with connected() as client:
        client.update_model(name, version, current=True)
    console.print(f"{name} {version} is now the current version", highlight=False)


@app.command("rm")
def remove(
    name: str,
    version: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
) -> None:
    """Delete a model version (admins): stopped if it runs, its package and log removed."""
    if not yes:
        typer.confirm(f"delete {name} {version} and its package?", abort=True)
    with connected() as client:
        client.delete_model(name, version)
    console.print(f"deleted {name} {version}", highlight=False)


@app.command()
def logs(
    name: str,
    version: VersionOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing what it prints")] = False,
) -> None:
    """What the model printed (each start appends to it)."""
    with connected() as client:
        part = client.model_logs(name, version)
        sys.stdout.write(part.text)
        offset = part.size
        while follow:
            sys.stdout.flush()
            time.sleep(FOLLOW_SECONDS)
            part = client.model_logs(name, version, offset=offset)
            sys.stdout.write(part.text)
            offset += len(part.text.encode())


@app.command()
def predict(
    name: str,
    data: Annotated[
        str | None, typer.Argument(help="JSON inputs, e.g. '{\"instances\": [[1.0, 0.8]]}'")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="read the inputs from a .json or .csv file")
    ] = None,
    csv: Annotated[bool, typer.Option(help="send text/csv (a .csv file is sent so anyway)")] = False,
    version: VersionOpt = None,
) -> None:
    """Ask a model for predictions, through the server; the model's answer is printed."""
    text = file.read_text() if file is not None else data if data is not None else sys.stdin.read()
    as_csv = csv or (file is not None and file.suffix.lower() == ".csv")
    body: Any = None
    if not as_csv:
        try:
            body = jsonlib.loads(text)
        except ValueError as error:
            fail(f"the inputs are not JSON ({error}); give --csv for CSV")
    with connected() as client:
        answer = client.predict(name, body, version=version, csv=text if as_csv else None)
    if isinstance(answer, str):
        sys.stdout.write(answer if answer.endswith("\n") else answer + "\n")
    else:
        emit_json(answer)
