"""calchub feed ls | purge: the log feed of agent and service events."""

from __future__ import annotations

import json as jsonlib
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from calchub.cli.output import TIME_FORMATS, connected, console, emit_json, fail, local_time, table, when

if TYPE_CHECKING:
    from calchub.contracts.activity import LogEntry

app = typer.Typer(help="The feed of agent and service events.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON (with --follow, one line per entry)")]
LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "red"}


def _level(entry: LogEntry) -> Text:
    return Text(entry.level, style=LEVEL_STYLE.get(entry.level, ""))


def _where(entry: LogEntry) -> str:
    calc = f"#{entry.calculation_id}" if entry.calculation_id else ""
    return " ".join(part for part in (entry.cluster or "", calc) if part) or "-"


@app.command("ls")
def ls(
    level: Annotated[
        str | None, typer.Option(help="this level and the more urgent ones: debug, info, warning, error")
    ] = None,
    source: Annotated[str | None, typer.Option(help="agent or server")] = None,
    cluster: Annotated[str | None, typer.Option(help="one cluster's entries")] = None,
    kind: Annotated[str | None, typer.Option(help="kinds that start so, e.g. agent or key.")] = None,
    calculation: Annotated[int | None, typer.Option(help="one calculation's entries")] = None,
    search: Annotated[str | None, typer.Option(help="words in the message")] = None,
    since: Annotated[
        datetime | None, typer.Option(formats=TIME_FORMATS, help="at or after (local time)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="how many")] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="then print new entries as they happen, until Ctrl-C")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """The entries you may see, newest first (with --follow, oldest first, then as they come)."""
    from calchub.contracts.activity import LEVELS

    if level is not None and level not in LEVELS:
        fail(f"--level is one of {', '.join(LEVELS)}, not {level!r}")
    filters: dict[str, Any] = {"level": level, "source": source, "cluster": cluster, "kind": kind}
    filters |= {"calculation": calculation, "search": search, "since": local_time(since)}
    with connected() as client:
        page = client.log_feed(**filters, limit=limit)
        if not follow:
            emit_json(page) if json else _table(page.items)
            return
        for entry in reversed(page.items):
            _line(entry, json)
        # From the newest shown; with none shown, none matched yet, so every match is new.
        after = page.items[0].id if page.items else 0
        try:
            for entry in client.follow_log_feed(**filters, after_id=after):
                _line(entry, json)
        except KeyboardInterrupt:
            pass


def _table(entries: list[LogEntry]) -> None:
    rows = [
        (e.id, when(e.at), _level(e), e.source, e.kind, _where(e), e.actor or "-", e.message) for e in entries
    ]
    table(None, ["id", "at", "level", "source", "kind", "where", "by", "message"], rows)


def _line(entry: LogEntry, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(jsonlib.dumps(entry.model_dump(mode="json")) + "\n")
        sys.stdout.flush()
        return
    line = Text(f"{when(entry.at)}  ")
    line.append(f"{entry.level:<7}", style=LEVEL_STYLE.get(entry.level, ""))
    line.append(f"  {entry.kind}  {_where(entry)}  {entry.message}")
    console.print(line, highlight=False)


@app.command("purge")
def purge(
    before: Annotated[
        datetime,
        typer.Option(
            formats=TIME_FORMATS, help="delete the entries older than this date or time (local time)"
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    json: JsonOpt = False,
) -> None:
    """Delete old entries of the feed (admins)."""
    cutoff = local_time(before)
    assert cutoff is not None
    if not yes:
        typer.confirm(f"delete every log entry older than {when(cutoff)}?", abort=True)
    with connected() as client:
        purged = client.delete_logs(cutoff)
    if json:
        emit_json(purged)
        return
    console.print(Text(f"deleted {purged.deleted} log entries older than {when(purged.before)}"))
