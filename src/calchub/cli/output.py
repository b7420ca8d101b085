"""Printing for the CLI: JSON for scripts, tables for people, errors that say what to fix."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

console = Console()
errors = Console(stderr=True)

STATE_STYLE = {
    "completed": "green",
    "running": "cyan",
    "queued": "yellow",
    "claimed": "yellow",
    "failed": "red",
    "invalid": "red",
    "lost": "magenta",
    "cancelled": "dim",
    "rejected": "red",
    "pending_approval": "yellow",
}


def emit_json(data: Any) -> None:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn client errors into one line on stderr and a non-zero exit."""
    from pydantic import ValidationError

    from calchub.client.errors import CalchubError

    try:
        yield
    except CalchubError as error:
        fail(str(error))
    except ValidationError as error:  # bad options, refused before anything is sent
        fail(
            "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                for e in error.errors(include_url=False)
            )
        )


#: How a date or time may be typed on the command line; without a zone it is local time.
TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


def local_time(value: datetime | None) -> datetime | None:
    """A time typed without a zone is the local time of this machine."""
    return value.astimezone() if value is not None else None


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def number(value: float | None, none: str = "-") -> str:
    """A count or an amount as people read it: 12, 3.5, 0.25; ``none`` for no value."""
    if value is None:
        return none
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def state(value: str) -> Text:
    return Text(value, style=STATE_STYLE.get(value, ""))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table; plain cells are shown as they are (user text is never read as markup)."""
    grid = Table(title=title, header_style="bold", show_edge=False)
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else escape(str(cell)) for cell in row))
    console.print(grid)


@contextmanager
def connected() -> Iterator[Any]:
    """A client for the block, closed when it ends; its errors as in ``friendly_errors``."""
    with friendly_errors():
        from calchub.client import Client

        with Client() as client:
            yield client


def print_lines(lines: list[str]) -> None:
    """User text as written, one line each (no Rich markup read into it)."""
    for line in lines:
        console.print(Text(line))
