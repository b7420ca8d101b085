"""approve, reject, set, fav, unfav: acting on calculations after they are submitted."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from calchub.cli.output import connected, console, emit_json, fail

if TYPE_CHECKING:
    from calchub.contracts.calculations import Calculation

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
Ids = Annotated[list[int], typer.Argument(help="calculation ids")]


def register(app: typer.Typer) -> None:
    for command in (approve, reject, fav, unfav):
        app.command()(command)
    app.command("set")(set_)


def approve(
    ids: Ids,
    comment: Annotated[str | None, typer.Option(help="a note for the submitter")] = None,
    json: JsonOpt = False,
) -> None:
    """Let calculations that wait for approval run (moderators)."""
    with connected() as client:
        done = [client.approve(i, comment) for i in ids]
    _each(done, json, lambda calc: f"approved {calc.id} ({calc.name}): {calc.state}")


def reject(
    ids: Ids,
    comment: Annotated[str, typer.Option(help="why; the submitter reads it")],
    json: JsonOpt = False,
) -> None:
    """Refuse calculations that wait for approval (moderators); they end as `rejected`."""
    with connected() as client:
        done = [client.reject(i, comment) for i in ids]
    _each(done, json, lambda calc: f"rejected {calc.id} ({calc.name}): {calc.message or comment}")


def _each(done: list[Calculation], json: bool, line: Callable[[Calculation], str]) -> None:
    if json:
        emit_json(done)
        return
    for calc in done:
        console.print(Text(line(calc)))


def set_(
    calc_id: int,
    priority: Annotated[
        int | None, typer.Option(help="higher runs first, within the project's range")
    ] = None,
    name: Annotated[str | None, typer.Option(help="a new name")] = None,
    json: JsonOpt = False,
) -> None:
    """Rename a calculation or change its priority: `calchub set 42 --priority 10`."""
    if priority is None and name is None:
        fail("give --priority N or --name NAME (or both)")
    with connected() as client:
        calc = client.update(calc_id, name=name, priority=priority)
    if json:
        emit_json(calc)
        return
    console.print(Text(f"{calc.id} ({calc.name}): priority {calc.priority}"))


def fav(ids: Ids) -> None:
    """Mark calculations as favorites (`calchub ls --favorites` lists them)."""
    with connected() as client:
        for calc_id in ids:
            client.favorite(calc_id)
            console.print(f"{calc_id} is a favorite")


def unfav(ids: Ids) -> None:
    """Take calculations off your favorites."""
    with connected() as client:
        for calc_id in ids:
            client.unfavorite(calc_id)
            console.print(f"{calc_id} is no longer a favorite")
