"""calchub run PIPELINE.yaml, and calchub study ls | show: studies and how far they got."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from calchub.cli.calcs import JsonOpt
from calchub.cli.output import connected, console, emit_json, fail, state, table, when
from calchub.cli.sweeps import space_from
from calchub.client import Client, NotFound
from calchub.contracts.studies import Study
from calchub.domain.states import TERMINAL, State

app = typer.Typer(help="Studies: sweeps, pipelines and the calculations they group.", no_args_is_help=True)

#: States shown as columns of a study's progress, in the order a calculation meets them.
SHOWN = (
    State.PENDING_APPROVAL,
    State.WAITING,
    State.QUEUED,
    State.RUNNING,
    State.COMPLETED,
    State.FAILED,
    State.INVALID,
    State.SKIPPED,
    State.CANCELLED,
)
#: The longest a round of the live view waits for a calculation to finish before it redraws.
REDRAW_SECONDS = 1.0


def register(cli: typer.Typer) -> None:
    cli.command("run")(run)
    cli.add_typer(app, name="study")


def run(
    pipeline: Annotated[Path, typer.Argument(help="a pipeline file (YAML); see examples/pipelines/")],
    cluster: Annotated[
        str | None, typer.Option(help="run every step here instead of the file's cluster")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="NAME=VALUE: a parameter for this run (read as YAML)")
    ] = None,
    study: Annotated[str | None, typer.Option(help="the study's name (the file's name, made unique)")] = None,
    project: Annotated[str | None, typer.Option(help="the file's project, or yours (~username)")] = None,
    vary: Annotated[
        list[str] | None, typer.Option(help="NAME=V1,V2,...: run the pipeline once per value")
    ] = None,
    range_: Annotated[list[str] | None, typer.Option("--range", help="NAME=START:STOP:STEP")] = None,
    linspace: Annotated[list[str] | None, typer.Option(help="NAME=START:STOP:NUM")] = None,
    points: Annotated[Path | None, typer.Option(help="a JSON or YAML list of parameter points")] = None,
    follow: Annotated[bool, typer.Option(help="follow it until every step has finished")] = True,
    json: JsonOpt = False,
) -> None:
    """Run a pipeline: every step is a calculation, started once the steps it needs have
    completed, with their files and results. The same file runs locally or on a cluster by
    changing --cluster only. Exits 0 only if every calculation completed."""
    from calchub.contracts import pipelines

    try:
        loaded = pipelines.load(pipeline)
        loaded = pipelines.with_sets(loaded, set_ or [])
        if cluster is not None:
            loaded = pipelines.with_cluster(loaded, cluster)
    except pipelines.PipelineFileError as error:
        fail(str(error))
    space = space_from(vary, range_, linspace, points)
    with connected() as client:
        name = study or _free_name(client, loaded.name, project or loaded.project)
        made = client.create_study(
            name,
            description=loaded.description,
            project=project or loaded.project,
            pipeline=loaded.spec,
            space=space,
        )
        if json and not follow:
            emit_json(made)
            return
        if not json:
            console.print(
                Text(f"study {made.study} ({made.id}): {made.count} calculations in {made.project}")
            )
        if follow:
            shown = _follow(client, made.id, quiet=json)
            if json:
                emit_json(shown)
            if shown.finished < shown.total or any(shown.counts.get(s) for s in TERMINAL - {State.COMPLETED}):
                raise typer.Exit(1)


def _free_name(client: Client, name: str, project: str | None) -> str:
    """``name``, or ``name-2``, ``name-3`` ... the first no study of the project has."""
    base = re.sub(r"-\d+$", "", name)
    for number in range(1, 1000):
        candidate = name if number == 1 else f"{base}-{number}"
        try:
            client.study(candidate, project)
        except NotFound:
            return candidate
    fail(f"study names {base}-2 to {base}-999 are all taken; give one with --study")


def _follow(client: Client, study_id: int, *, quiet: bool) -> Study:
    """Redraw the study's progress as its calculations finish, until all have."""
    shown = client.study(study_id)
    pending = [c.id for c in client.iter(study=shown.name, project=shown.project)]
    live = Live(_progress(shown), console=console) if console.is_terminal and not quiet else None
    with live or contextlib.nullcontext():
        while pending:
            done = {c.id for c in client.wait_some(pending, timeout=REDRAW_SECONDS)}
            pending = [i for i in pending if i not in done]
            shown = client.study(study_id)
            if live is not None:
                live.update(_progress(shown))
    if not quiet and not console.is_terminal:
        console.print(_progress(shown))
    return shown


def _progress(study: Study) -> Group:
    """Each step (or the study as one) with a bar and its calculations counted by state."""
    rows = [(s.name, s.counts) for s in study.steps] or [(study.name, study.counts)]
    grid = Table(show_edge=False, header_style="bold")
    grid.add_column("step" if study.steps else "study")
    grid.add_column("done", no_wrap=True)
    shown = [s for s in SHOWN if any(counts.get(s) for _, counts in rows)]
    for s in shown:
        grid.add_column(s.value, justify="right")
    for name, counts in rows:
        total = sum(counts.values())
        finished = sum(n for s, n in counts.items() if s in TERMINAL)
        grid.add_row(name, _bar(finished, total), *(str(counts.get(s, 0) or "") for s in shown))
    return Group(grid)


def _bar(done: int, total: int, width: int = 20) -> Text:
    filled = round(width * done / total) if total else 0
    return Text("█" * filled + "░" * (width - filled) + f" {done}/{total}")


@app.command("ls")
def listing(
    project: Annotated[str | None, typer.Option(help="only this project's")] = None,
    json: JsonOpt = False,
) -> None:
    """The studies you see, newest first, with their calculations counted by state."""
    with connected() as client:
        found = client.studies(project)
    if json:
        emit_json(found)
        return
    table(
        None,
        ["id", "name", "kind", "project", "owner", "done", "failed", "created"],
        [
            (
                s.id,
                s.name,
                s.kind,
                s.project,
                s.owner,
                f"{s.finished}/{s.total}",
                sum(n for st, n in s.counts.items() if st in TERMINAL - {State.COMPLETED}) or "",
                when(s.created_at),
            )
            for s in found
        ],
    )


@app.command("show")
def show(
    study: Annotated[str, typer.Argument(help="a study's id, or its name (with --project, always a name)")],
    project: Annotated[str | None, typer.Option(help="the study's project (yours by default)")] = None,
    json: JsonOpt = False,
) -> None:
    """A study: what it varies, its progress by state (and by step for a pipeline)."""
    with connected() as client:
        found = _find(client, study, project)
    if json:
        emit_json(found)
        return
    console.print(
        Text(f"study {found.name} ({found.id}), a {found.kind} in {found.project} by {found.owner}")
    )
    if found.description:
        console.print(Text(found.description))
    if found.parameters:
        console.print(Text(f"varies: {', '.join(found.parameters)}"))
    console.print(_progress(found))
    if not found.total:
        console.print(Text(f"no calculations yet: `calchub submit --study {found.name}` adds some"))
        return
    console.print(
        Text.assemble("states: ", *[x for s, n in found.counts.items() for x in (state(s), f" {n}  ")])
    )
    console.print(Text(f"results: calchub results --study {found.name} --project {found.project}"))


@app.command("cancel")
def cancel(
    study: Annotated[str, typer.Argument(help="a study's id, or its name (with --project, always a name)")],
    project: Annotated[str | None, typer.Option(help="the study's project (yours by default)")] = None,
    reason: Annotated[str | None, typer.Option(help="why, kept as each calculation's message")] = None,
    json: JsonOpt = False,
) -> None:
    """Cancel a study's unfinished calculations: those waiting, queued and running."""
    with connected() as client:
        found = _find(client, study, project)
        done = client.cancel_study(found.id, reason)
    if json:
        emit_json(done)
        return
    left = f"; {done.left} of other members left as they were" if done.left else ""
    plural = "calculation" if done.cancelled == 1 else "calculations"
    console.print(Text(f"study {found.name}: {done.cancelled} {plural} cancelled{left}"))


def _find(client: Client, study: str, project: str | None) -> Study:
    """A study by id, or by name when a project is named (a name may be all digits)."""
    return client.study(int(study) if study.isdigit() and project is None else study, project)
