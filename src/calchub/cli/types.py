"""types ls, types show: the calculation types the server knows."""

from __future__ import annotations

import json as json_module
from typing import Annotated

import typer
from rich.markup import escape

from calchub.cli.output import connected, console, emit_json, table

app = typer.Typer(help="Calculation types: what they take, run, keep and analyse.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


@app.command("ls")
def ls(json: JsonOpt = False) -> None:
    """Every type you can submit, and any the server refused with why."""
    with connected() as client:
        found = client.calctypes()
    if json:
        emit_json(found)
        return
    table(
        None,
        ["name", "version", "title", "from"],
        [(t.name, t.version, t.title, t.source) for t in found.items],
    )
    for refused in found.refused:
        console.print(f"[red]refused[/red] {escape(refused.source)}: {escape(refused.error)}")


@app.command("show")
def show(name: str, json: JsonOpt = False) -> None:
    """One type: its inputs (with defaults and limits), uploads, analyses and clean-up."""
    with connected() as client:
        info = client.calctype(name)
    if json:
        emit_json(info)
        return
    console.print(f"[bold]{escape(info.name)}[/bold] {escape(info.version)}  {escape(info.title)}")
    if info.description:
        console.print(escape(info.description))
    properties = info.input_schema.get("properties", {})
    required = set(info.input_schema.get("required", []))
    inputs = [(k, _kind(v), _yes(k in required), _limits(v)) for k, v in properties.items()]
    table("inputs", ["name", "type", "required", "default and limits"], inputs)
    if info.uploads:
        uploads = [(u.path, _yes(u.required), u.description) for u in info.uploads]
        table("uploads", ["file", "required", "what"], uploads)
    if info.analyses:
        steps = [(a.name, ", ".join(a.needs), _yes(a.default), a.description) for a in info.analyses]
        table("analyses", ["name", "needs", "default", "what"], steps)
    console.print(f"command: {escape(' '.join(info.command))}")
    console.print(
        f"keeps: {escape(', '.join(info.keep) or 'nothing')}; deletes after extraction: "
        f"{escape(', '.join(info.cleanup) or 'nothing')}"
    )


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


LIMITS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))


def _kind(spec: dict[str, object]) -> str:
    if "enum" in spec:
        return " | ".join(map(str, spec["enum"]))  # type: ignore[call-overload]
    kind = spec.get("type", "")
    return " | ".join(map(str, kind)) if isinstance(kind, list) else str(kind)


def _limits(spec: dict[str, object]) -> str:
    parts = [f"default {json_module.dumps(spec['default'])}"] if "default" in spec else []
    for key, sign in LIMITS:
        if key in spec:
            parts.append(f"{sign} {spec[key]}")
    if spec.get("description"):
        parts.append(str(spec["description"]))
    return "; ".join(parts)
