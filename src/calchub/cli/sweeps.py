"""calchub sweep: one study of calculations of a type, one per point of a parameter space."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from calchub.cli.calcs import JsonOpt, json_or_text, typed_inputs
from calchub.cli.output import connected, console, emit_json, fail


def register(app: typer.Typer) -> None:
    app.command()(sweep)


def sweep(
    study: Annotated[str, typer.Argument(help="the study's name: its calculations are listed with --study")],
    type_: Annotated[str, typer.Option("--type", "-t", help="the calculation type to run")],
    input_: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="NAME=VALUE, the same at every point")
    ] = None,
    inputs: Annotated[Path | None, typer.Option(help="a JSON or YAML file of inputs")] = None,
    vary: Annotated[list[str] | None, typer.Option(help="NAME=V1,V2,... (each value read as JSON)")] = None,
    range_: Annotated[
        list[str] | None, typer.Option("--range", help="NAME=START:STOP:STEP, the stop left out")
    ] = None,
    linspace: Annotated[
        list[str] | None, typer.Option(help="NAME=START:STOP:NUM, NUM values, the stop in")
    ] = None,
    points: Annotated[Path | None, typer.Option(help="a JSON or YAML list of points instead of axes")] = None,
    name: Annotated[str | None, typer.Option(help="the calculations' name, before their point")] = None,
    cluster: str = "local",
    project: Annotated[str | None, typer.Option(help="yours (~username) when unset")] = None,
    json: JsonOpt = False,
) -> None:
    """Run a type at every point of a space: the product of the --vary, --range and --linspace
    axes, in that order, the last changing fastest; or the points of --points. All the
    calculations are made, or none: `calchub sweep cells -t cell --vary voltage=0.1,0.2
    --vary solvent=water,dmso`."""
    space = space_from(vary, range_, linspace, points)
    if space is None:
        fail("give axes (--vary, --range, --linspace) or --points FILE, one of the two")
    axes, listed = space.get("product", []), space.get("points")
    template: dict[str, Any] = {
        "type": type_,
        "inputs": typed_inputs(inputs, input_ or []),
        "cluster": cluster,
    }
    template |= {"name": name or type_} | ({"project": project} if project else {})
    with connected() as client:
        try:
            made = client.sweep(study, template, product=axes, points=listed)
        except ValueError as error:  # the space, checked before it is sent
            fail(str(error))
    if json:
        emit_json(made)
        return
    ids = f"{made.first_id} to {made.last_id}"
    console.print(Text(f"study {made.study}: {made.count} calculations ({ids}) in {made.project}"))


def space_from(
    vary: list[str] | None, range_: list[str] | None, linspace: list[str] | None, points: Path | None
) -> dict[str, Any] | None:
    """The space the options describe: a product of axes, the points of a file, or none."""
    axes = [_values(v) for v in vary or []] + [_range(r, "step") for r in range_ or []]
    axes += [_range(r, "num") for r in linspace or []]
    if axes and points is not None:
        fail("give axes (--vary, --range, --linspace) or --points FILE, not both")
    if points is not None:
        return {"points": _points(points)}
    return {"product": axes} if axes else None


def _values(item: str) -> dict[str, Any]:
    key, sep, text = item.partition("=")
    if not sep or not key or not text:
        fail(f"--vary {item!r} must look like NAME=V1,V2,...")
    return {"input": key, "values": [json_or_text(v) for v in text.split(",")]}


def _range(item: str, last: str) -> dict[str, Any]:
    key, sep, text = item.partition("=")
    parts = text.split(":")
    option = "--range" if last == "step" else "--linspace"
    if not sep or not key or len(parts) != 3:
        fail(f"{option} {item!r} must look like NAME=START:STOP:{last.upper()}")
    try:
        start, stop = float(parts[0]), float(parts[1])
        end = int(parts[2]) if last == "num" else float(parts[2])
    except ValueError:
        fail(f"{option} {item!r}: START, STOP and {last.upper()} are numbers")
    return {"input": key, "range": {"start": start, "stop": stop, last: end}}


def _points(source: Path) -> list[dict[str, Any]]:
    import yaml

    if not source.is_file():
        fail(f"--points {str(source)!r}: no such file")
    loaded = yaml.safe_load(source.read_text())
    if not isinstance(loaded, list) or not all(isinstance(p, dict) for p in loaded):
        fail(f"--points {str(source)!r} must hold a list of points, each a mapping of inputs to values")
    return loaded
