"""results: one calculation's numbers, or the table across many (JSON, CSV)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from calchub.cli.output import connected, console, emit_json, fail, table


def register(app: typer.Typer) -> None:
    app.command()(results)


def results(
    calc_id: Annotated[int | None, typer.Argument(help="one calculation; leave out for the table")] = None,
    type_: Annotated[str | None, typer.Option("--type", "-t", help="only this calculation type")] = None,
    project: str | None = None,
    study: str | None = None,
    owner: str | None = None,
    state_: Annotated[list[str] | None, typer.Option("--state", help="only these states")] = None,
    fields: Annotated[str | None, typer.Option(help="comma-separated results or inputs.<name>")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="print CSV")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write to this file")] = None,
    json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Results of one calculation (`calchub results 42`), or a table across many
    (`calchub results -t bumps --fields slope,intercept,chisq --csv`)."""
    with connected() as client:
        if calc_id is not None:
            _one(client.results(calc_id), json)
            return
        chosen = [f.strip() for f in fields.split(",")] if fields else None
        filters = {"type": type_, "project": project, "study": study, "owner": owner, "state": state_}
        if csv:
            text = client.results_csv(**filters, fields=chosen)
        else:
            found = client.results_table(**filters, fields=chosen, as_frame=False)
            text = found.model_dump_json(indent=2) if json or out else ""
    if out is not None:
        out.write_text(text)
        console.print(f"wrote {out}", highlight=False)
    elif csv or json:
        typer.echo(text, nl=False)
    else:
        header = [f"{c} [{found.units[c]}]" if c in found.units else c for c in found.columns]
        table(None, header, [["" if cell is None else _cell(cell) for cell in row] for row in found.rows])


def _one(found: object, json: bool) -> None:
    from calchub.contracts.results import CalculationResults

    assert isinstance(found, CalculationResults)
    if json:
        emit_json(found)
        return
    if not (found.scalars or found.tables or found.figures):
        fail(f"calculation {found.id} is {found.state} and has no results", code=0)
    rows = [
        (s.name, _cell(s.value), "" if s.error is None else _cell(s.error), s.unit, s.source)
        for s in found.scalars
    ]
    table(
        f"calculation {found.id} ({found.calctype} {found.calctype_version})",
        ["name", "value", "±", "unit", "from"],
        rows,
    )
    for t in found.tables:
        console.print(
            f"table [bold]{escape(t.name)}[/bold]: {len(t.rows)} rows of {', '.join(map(escape, t.columns))}"
        )
    for f in found.figures:
        console.print(
            f"figure [bold]{escape(f.name)}[/bold]: {escape(f.path)} (`calchub download {found.id}`)"
        )
    if found.bytes_freed:
        console.print(f"clean-up freed {found.bytes_freed:,} bytes")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
