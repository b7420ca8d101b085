"""submit, ls, show, logs, wait, cancel, retry, rm, download."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from calchub.cli.output import (
    TIME_FORMATS,
    connected,
    console,
    emit_json,
    fail,
    local_time,
    state,
    table,
    when,
)

if TYPE_CHECKING:
    from calchub.client import Calculation

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def register(app: typer.Typer) -> None:
    for command in (submit, ls, show, logs, wait, cancel, retry, rm, download, script):
        app.command(context_settings={"allow_interspersed_args": False} if command is submit else None)(
            command
        )


def submit(
    command: Annotated[
        list[str] | None, typer.Argument(help="the command and its arguments, after -- (or give --type)")
    ] = None,
    type_: Annotated[
        str | None, typer.Option("--type", "-t", help="a calculation type (`calchub types ls`)")
    ] = None,
    input_: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="NAME=VALUE input of the type (VALUE as JSON)")
    ] = None,
    inputs: Annotated[Path | None, typer.Option(help="a JSON or YAML file of the type's inputs")] = None,
    analysis: Annotated[
        list[str] | None, typer.Option("--analysis", "-a", help="run this analysis (default: the type's)")
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="the project it belongs to and counts against (default: ~you)")
    ] = None,
    study: Annotated[str | None, typer.Option(help="a study label to group results")] = None,
    name: Annotated[str | None, typer.Option(help="a name to find it by")] = None,
    cluster: Annotated[str, typer.Option(help="where it runs")] = "local",
    cores: Annotated[int | None, typer.Option(min=1, help="default 1, or the type's")] = None,
    gpus: Annotated[int | None, typer.Option(min=0)] = None,
    memory: Annotated[str | None, typer.Option(help="e.g. 512M or 4G")] = None,
    walltime: Annotated[str | None, typer.Option(help="seconds or [D-][HH:]MM:SS")] = None,
    nodes: Annotated[int | None, typer.Option(min=1, help="nodes (Slurm)")] = None,
    tasks: Annotated[int | None, typer.Option(min=1, help="tasks, e.g. MPI ranks (Slurm)")] = None,
    partition: Annotated[str | None, typer.Option(help="Slurm partition")] = None,
    qos: Annotated[str | None, typer.Option(help="Slurm QOS")] = None,
    account: Annotated[str | None, typer.Option(help="Slurm account")] = None,
    mem_per_cpu: Annotated[bool, typer.Option("--mem-per-cpu", help="--memory is per CPU (Slurm)")] = False,
    mail_user: Annotated[str | None, typer.Option(help="Slurm mails this address")] = None,
    mail_type: Annotated[list[str] | None, typer.Option(help="BEGIN, END, FAIL, ALL ... (Slurm)")] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="check and show what would run (the sbatch script), create nothing"),
    ] = False,
    priority: Annotated[int, typer.Option(help="higher runs first")] = 0,
    output: Annotated[list[str] | None, typer.Option("--output", "-o", help="glob of files to keep")] = None,
    file: Annotated[list[str] | None, typer.Option("--file", "-f", help="LOCAL[:DEST] input file")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE")] = None,
    max_attempts: Annotated[int, typer.Option(min=1, help="attempts if a run is lost")] = 2,
    notify: Annotated[list[str] | None, typer.Option(help="also email this address when it ends")] = None,
    after: Annotated[list[int] | None, typer.Option(help="wait until calculation ID has completed")] = None,
    take: Annotated[
        list[str] | None, typer.Option(help="ID:PATH[:AS], a file calculation ID kept (it waits for ID)")
    ] = None,
    take_result: Annotated[
        list[str] | None, typer.Option(help="ID:RESULT=INPUT, an input from ID's result (it waits for ID)")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Submit a command, `calchub submit --cores 2 -- python run.py`, or a typed calculation,
    `calchub submit -t lammps -i temperature=1.2 -i steps=5000`; `--after 12 --take 12:final.xyz`
    runs it once 12 has completed, with 12's file."""
    if bool(command) == bool(type_):
        fail("give either a command after -- or --type NAME, not both or neither")
    chosen = {
        "cores": cores,
        "gpus": gpus,
        "memory": memory,
        "walltime": walltime,
        "nodes": nodes,
        "tasks": tasks,
        "partition": partition,
        "qos": qos,
        "account": account,
        "memory_per": "cpu" if mem_per_cpu else None,
        "mail_user": mail_user,
        "mail_type": [t.upper() for t in mail_type] if mail_type else None,
    }
    fields: dict[str, Any] = {
        "name": name or (type_ or Path(command[0] if command else "calculation").name),
        "cluster": cluster,
        "priority": priority,
        "outputs": output or [],
        "env": _pairs(env or []),
        "max_attempts": max_attempts,
        "resources": {key: value for key, value in chosen.items() if value is not None},
        "project": project,
        "study": study,
        "after": parents_from(after or [], take or [], take_result or []),
        "notify": notify or [],
    }
    if type_:
        fields |= {"type": type_, "inputs": typed_inputs(inputs, input_ or [])}
        if analysis is not None:
            fields["analyses"] = analysis
    files = {dest: Path(local) for local, dest in (_file(f) for f in file or [])}
    if dry_run:
        _dry_run(command or None, files, fields, json)
        return
    with connected() as client:
        calc = client.submit(command or None, files=files, **fields)
    if json:
        emit_json(calc)
    else:
        console.print(f"submitted calculation [bold]{calc.id}[/bold] ({escape(calc.name)}) to {calc.cluster}")


def parents_from(after: list[int], take: list[str], take_result: list[str]) -> list[dict[str, Any]]:
    """``--after``, ``--take`` and ``--take-result`` as the request's ``after``, one per parent."""
    parents: dict[int, dict[str, Any]] = {i: {"calculation": i} for i in after}

    def parent(text: str, option: str, shape: str) -> tuple[dict[str, Any], str]:
        calc_id, sep, rest = text.partition(":")
        if not sep or not calc_id.isdigit() or not rest:
            fail(f"{option} {text!r} must look like {shape}")
        return parents.setdefault(int(calc_id), {"calculation": int(calc_id)}), rest

    for item in take:
        found, rest = parent(item, "--take", "ID:PATH[:AS]")
        path, _, alias = rest.partition(":")
        found.setdefault("files", []).append({"path": path} | ({"as": alias} if alias else {}))
    for item in take_result:
        found, rest = parent(item, "--take-result", "ID:RESULT=INPUT")
        result, sep, target = rest.partition("=")
        if not sep or not result or not target:
            fail(f"--take-result {item!r} must look like ID:RESULT=INPUT")
        found.setdefault("results", {})[target] = result
    return list(parents.values())


def _dry_run(command: list[str] | None, files: dict[str, Path], fields: dict[str, Any], json: bool) -> None:
    with connected() as client:
        found = client.preview(command, files=files, **fields)
    if json:
        emit_json(found)
        return
    calc = found.calculation
    console.print(f"would submit to {escape(calc.cluster)}: nothing was created", highlight=False)
    if found.script is not None:
        typer.echo(found.script, nl=False)
        return
    console.print(f"command: {escape(' '.join(calc.command))}", highlight=False)
    console.print(f"files: {escape(', '.join(found.files) or 'none')}", highlight=False)


def script(calc_id: int) -> None:
    """The sbatch script of a calculation on a Slurm cluster, exactly as its agent submits it."""
    with connected() as client:
        text = client.script(calc_id)
    typer.echo(text, nl=False)


def typed_inputs(source: Path | None, pairs: list[str]) -> dict[str, Any]:
    """Inputs from a JSON/YAML file, then NAME=VALUE pairs (dotted names nest, VALUE read as JSON)."""
    found: dict[str, Any] = {}
    if source is not None:
        import yaml

        if not source.is_file():
            fail(f"--inputs {str(source)!r}: no such file")
        loaded = yaml.safe_load(source.read_text())
        if not isinstance(loaded, dict):
            fail(f"--inputs {str(source)!r} must hold a mapping of input names to values")
        found = loaded
    for item in pairs:
        key, sep, text = item.partition("=")
        if not sep or not key:
            fail(f"--input {item!r} must look like NAME=VALUE")
        target = found
        *parents, last = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = json_or_text(text)
    return found


def json_or_text(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: list[str]) -> dict[str, str]:
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--env {item!r} must look like KEY=VALUE")
        found[key] = value
    return found


def _file(spec: str) -> tuple[str, str]:
    local, _, dest = spec.partition(":")
    if not Path(local).is_file():
        fail(f"--file {local!r}: no such file")
    return local, dest or Path(local).name


def ls(
    state_: Annotated[list[str] | None, typer.Option("--state", help="only these states")] = None,
    cluster: str | None = None,
    owner: str | None = None,
    name: Annotated[str | None, typer.Option(help="exact, or a pattern with *")] = None,
    project: Annotated[str | None, typer.Option(help="only this project (~user: a personal one)")] = None,
    favorites: Annotated[bool, typer.Option("--favorites", help="only your favorites")] = False,
    study: Annotated[str | None, typer.Option(help="only this study's (a sweep's)")] = None,
    type_: Annotated[
        str | None, typer.Option("--type", help="a calculation type; command for plain commands")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(formats=TIME_FORMATS, help="submitted at or after (local time)")
    ] = None,
    before: Annotated[
        datetime | None, typer.Option(formats=TIME_FORMATS, help="submitted before (local time)")
    ] = None,
    sort: Annotated[str, typer.Option(help="id, created, priority, name; - for descending")] = "-id",
    limit: Annotated[int, typer.Option(min=1)] = 50,
    json: JsonOpt = False,
) -> None:
    """List calculations, newest first."""
    times = {"submitted_from": local_time(since), "submitted_before": local_time(before)}
    with connected() as client:
        found = client.list(
            state=state_,
            cluster=cluster,
            owner=owner,
            name=name,
            project=project,
            favorite=True if favorites else None,
            type=type_,
            study=study,
            **{key: value.isoformat() for key, value in times.items() if value is not None},
            sort=sort,
            limit=limit,
        )
    if json:
        emit_json(found)
        return
    rows = [
        (c.id, c.name, state(c.state), c.project or "-", c.cluster, c.owner, c.attempt, when(c.created_at))
        for c in found
    ]
    table(None, ["id", "name", "state", "project", "cluster", "owner", "attempt", "created"], rows)


def show(calc_id: int, json: JsonOpt = False) -> None:
    """One calculation: what ran, where, with what, and its timeline."""
    with connected() as client:
        calc, events = client.get(calc_id), client.events(calc_id)
    if json:
        emit_json({**calc.model_dump(mode="json"), "events": [e.model_dump(mode="json") for e in events]})
        return
    _describe(calc)
    rows = [(when(e.at), e.attempt, state(e.to_state), e.actor, e.message or "") for e in events]
    table("timeline", ["at", "attempt", "state", "by", "message"], rows)


def _describe(calc: Calculation) -> None:
    p = calc.provenance
    console.print(
        Text.assemble(
            (f"{calc.id} ", "bold"),
            f"{calc.name}  ",
            state(calc.state),
            f"  (attempt {calc.attempt}/{calc.max_attempts})",
        )
    )
    lines = [
        f"command   {' '.join(calc.command)}",
        f"owner     {calc.owner}   cluster {calc.cluster}   priority {calc.priority}",
        f"project   {calc.project or '-'}   study {calc.study or '-'}"
        + (f"   step {calc.step}" if calc.step else "")
        + ("   favorite" if calc.favorite else ""),
        f"resources {calc.resources.cores} cores, {calc.resources.gpus} GPUs, "
        f"memory {calc.resources.memory or '-'}, walltime {calc.resources.walltime or '-'} s",
        f"host      {p.host or '-'}   workdir {p.workdir or '-'}   pid/job {p.scheduler_id or '-'}",
        f"versions  calchub {p.calchub_version or '-'}, agent {p.agent_version or '-'}",
        f"exit      {calc.exit_code if calc.exit_code is not None else '-'}   {calc.message or ''}",
    ]
    if calc.parents:
        lines.append(f"after     {', '.join(map(str, calc.parents))}")
    lines += [f"{f.kind:6}    {f.path}  {f.size} B  sha256 {f.sha256}" for f in calc.files]
    for line in lines:
        console.print(Text(line))


def logs(
    calc_id: int,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="stream until the run ends")] = False,
    stderr: Annotated[bool, typer.Option("--stderr", help="standard error instead of output")] = False,
    attempt: Annotated[int | None, typer.Option(help="an earlier attempt")] = None,
) -> None:
    """Print a calculation's output (stdout, or --stderr)."""
    stream = "stderr" if stderr else "stdout"
    with connected() as client:
        if follow:
            for text in client.follow(calc_id, stream):
                typer.echo(text, nl=False)
        else:
            typer.echo(client.logs(calc_id, stream, attempt), nl=False)


def wait(
    ids: Annotated[list[int], typer.Argument(help="calculation ids")],
    timeout: Annotated[float | None, typer.Option(help="give up after this many seconds")] = None,
    json: JsonOpt = False,
) -> None:
    """Wait until the calculations finish; exit 0 only if all completed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from calchub.client import WaitTimeout

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with connected() as client, Progress(*columns, console=console, transient=True, disable=json) as bar:
        task = bar.add_task("waiting", total=len(ids))
        try:
            done = client.wait_all(ids, timeout, lambda n, total: bar.update(task, completed=n, total=total))
        except WaitTimeout as error:
            fail(f"{error}: {', '.join(map(str, error.pending))}", code=2)
    if json:
        emit_json(done)
    else:
        table(
            None,
            ["id", "name", "state", "exit", "message"],
            [(c.id, c.name, state(c.state), c.exit_code, c.message or "") for c in done],
        )
    if any(c.state != "completed" for c in done):
        raise typer.Exit(1)


def cancel(
    ids: Annotated[list[int], typer.Argument()], reason: str | None = None, json: JsonOpt = False
) -> None:
    """Cancel calculations; running ones are killed with every process they started."""
    with connected() as client:
        done = [client.cancel(i, reason) for i in ids]
    if json:
        emit_json(done)
    for calc in done if not json else []:
        console.print(Text(f"cancelled {calc.id} ({calc.name})"))


def retry(ids: Annotated[list[int], typer.Argument()], json: JsonOpt = False) -> None:
    """Run failed, cancelled, invalid or lost calculations again, each as its next attempt."""
    with connected() as client:
        done = [client.retry(i) for i in ids]
    if json:
        emit_json(done)
    for calc in done if not json else []:
        console.print(Text(f"retried {calc.id} ({calc.name}): {calc.state}, attempt {calc.attempt + 1} next"))


def rm(ids: Annotated[list[int], typer.Argument()]) -> None:
    """Delete finished calculations and their files."""
    with connected() as client:
        for calc_id in ids:
            client.delete(calc_id)
            console.print(f"deleted {calc_id}")


def download(
    calc_id: int,
    path: Annotated[
        str | None, typer.Argument(help="one output file; all files as a zip when left out")
    ] = None,
    dest: Annotated[Path, typer.Option("--dest", "-d", help="folder or file to write")] = Path("."),
) -> None:
    """Download a calculation's output files (a zip of everything, or one file)."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    with (
        connected() as client,
        Progress(
            *Progress.get_default_columns(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        ) as bar,
    ):
        task = bar.add_task(f"calc {calc_id}", total=None)
        written = client.download(
            calc_id, dest, path, progress=lambda n, t: bar.update(task, completed=n, total=t)
        )
    console.print(Text(f"wrote {written}"))
