"""calchub project ls | add | show | set | rm | members | add-member | rm-member | usage | webhook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from calchub.cli import quotas
from calchub.cli.output import connected, console, emit_json, fail, print_lines, table, when
from calchub.domain.permissions import ProjectRole

if TYPE_CHECKING:
    from calchub.contracts.projects import Project

app = typer.Typer(
    help="Projects: who works in them, their quotas, priorities and approval.", no_args_is_help=True
)
webhook = typer.Typer(
    help="Webhooks: URLs that receive the project's notices as signed JSON.", no_args_is_help=True
)
app.add_typer(webhook, name="webhook")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
Description = Annotated[str | None, typer.Option(help="what the project is for")]
Approval = Annotated[
    bool | None,
    typer.Option("--approval/--no-approval", help="whether calculations wait for a moderator's approval"),
]
PriorityRange = Annotated[
    str | None, typer.Option("--priority-range", metavar="MIN:MAX", help="priorities members may give")
]


@app.command("ls")
def ls(json: JsonOpt = False) -> None:
    """Your projects (moderators and admins see every project)."""
    with connected() as client:
        found = client.projects()
    if json:
        emit_json(found)
        return
    rows = [
        (
            p.name,
            p.my_role or "-",
            p.members,
            "yes" if p.requires_approval else "no",
            f"{p.priority_min}:{p.priority_max}",
            p.description,
        )
        for p in found
    ]
    table(None, ["name", "my role", "members", "approval", "priorities", "description"], rows)


@app.command("add")
def add(
    name: str,
    description: Description = None,
    approval: Approval = None,
    priority_range: PriorityRange = None,
    max_running: quotas.MaxRunning = None,
    max_queued: quotas.MaxQueued = None,
    core_hours: quotas.CoreHours = None,
    days: quotas.Days = None,
    manager: Annotated[
        list[str] | None, typer.Option("--manager", help="a manager (repeat for more)")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Create a project (admins): `calchub project add beamtime-42 --approval --core-hours 5000`."""
    from calchub.contracts.users import Quotas

    fields = _fields(description, approval, priority_range)
    chosen = quotas.merged(Quotas(), max_running, max_queued, core_hours, days, None)
    if chosen is not None:
        fields["quotas"] = chosen
    with connected() as client:
        project = client.create_project(name, managers=manager or [], **fields)
    emit_json(project) if json else console.print(Text(f"created project {project.name}"))


def _fields(description: str | None, approval: bool | None, priority_range: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"description": description, "requires_approval": approval}
    if priority_range is not None:
        low, sep, high = priority_range.partition(":")
        try:
            fields |= {"priority_min": int(low), "priority_max": int(high)}
        except ValueError:
            sep = ""
        if not sep:
            fail(f"--priority-range {priority_range!r} must look like MIN:MAX, e.g. -10:50")
    return {key: value for key, value in fields.items() if value is not None}


@app.command("show")
def show(name: str, json: JsonOpt = False) -> None:
    """One project: description, approval, priorities and quotas."""
    with connected() as client:
        project = client.project(name)
    emit_json(project) if json else _describe(project)


def _describe(project: Project) -> None:
    kind = "personal project" if project.personal else "project"
    lines = [
        f"{project.name}  ({kind}, {project.members} member(s); your role: {project.my_role or '-'})",
        f"about       {project.description or '-'}",
        f"approval    {'calculations wait for a moderator' if project.requires_approval else 'not needed'}",
        f"priorities  {project.priority_min} to {project.priority_max}",
        f"quotas      {quotas.describe(project.quotas)}",
        f"created     {when(project.created_at)}",
    ]
    print_lines(lines)


@app.command("set")
def set_(
    name: str,
    description: Description = None,
    approval: Approval = None,
    priority_range: PriorityRange = None,
    max_running: quotas.MaxRunning = None,
    max_queued: quotas.MaxQueued = None,
    core_hours: quotas.CoreHours = None,
    days: quotas.Days = None,
    unlimited: quotas.Unlimited = None,
    json: JsonOpt = False,
) -> None:
    """Change a project (admins); what is not named stays as it is."""
    fields = _fields(description, approval, priority_range)
    limits = (max_running, max_queued, core_hours, days)
    change_quotas = any(limit is not None for limit in limits) or bool(unlimited)
    if not fields and not change_quotas:
        fail("name something to change: see `calchub project set --help`")
    with connected() as client:
        if change_quotas:
            fields["quotas"] = quotas.merged(client.project(name).quotas, *limits, unlimited)
        project = client.update_project(name, **fields)
    emit_json(project) if json else _describe(project)


@app.command("rm")
def rm(name: str, yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False) -> None:
    """Delete a project (admins)."""
    if not yes:
        typer.confirm(f"delete the project {name}?", abort=True)
    with connected() as client:
        client.delete_project(name)
    console.print(Text(f"deleted project {name}"))


@app.command("members")
def members(name: str, json: JsonOpt = False) -> None:
    """Who is in the project, and as what."""
    with connected() as client:
        found = client.members(name)
    if json:
        emit_json(found)
        return
    table(None, ["username", "role", "added"], [(m.username, m.role, when(m.added_at)) for m in found])


@app.command("add-member")
def add_member(
    name: str,
    username: str,
    role: Annotated[ProjectRole, typer.Option(help="managers add members and act on all its work")] = (
        ProjectRole.MEMBER
    ),
    json: JsonOpt = False,
) -> None:
    """Add someone to the project, or change their role in it (managers)."""
    with connected() as client:
        member = client.add_member(name, username, role)
    emit_json(member) if json else console.print(Text(f"{member.username} is a {member.role} of {name}"))


@app.command("rm-member")
def rm_member(name: str, username: str) -> None:
    """Take someone out of the project (managers)."""
    with connected() as client:
        client.remove_member(name, username)
    console.print(Text(f"removed {username} from {name}"))


@app.command("usage")
def usage(name: str, json: JsonOpt = False) -> None:
    """What the project uses of each quota: used, limit and what is left."""
    with connected() as client:
        found = client.usage(name)
    if json:
        emit_json(found)
        return
    quotas.show_usage(found)
    console.print(
        Text(f"{found.running} running, {found.queued} waiting, {found.core_hours:.2f} core-hours used")
    )


@webhook.command("add")
def webhook_add(
    name: str,
    url: str,
    level: Annotated[str, typer.Option(help="info: every notice of the project; error: failures only")] = (
        "info"
    ),
    json: JsonOpt = False,
) -> None:
    """Send the project's notices to URL (managers); prints the secret that signs them, once."""
    from calchub.contracts.webhooks import WebhookLevel

    levels = [each.value for each in WebhookLevel]
    if level not in levels:
        fail(f"--level is one of {', '.join(levels)}, not {level!r}")
    with connected() as client:
        made = client.add_webhook(name, url, level)
    if json:
        emit_json(made)
        return
    print_lines(
        [
            f"added webhook {made.id} of {made.project}: {made.url} ({made.level.value})",
            f"secret: {made.secret}",
            "Keep the secret now: it will not be shown again. The receiver checks the header",
            "X-Calchub-Signature-256 (sha256=<hex HMAC-SHA256 of the body with this secret>).",
        ]
    )


@webhook.command("ls")
def webhook_ls(name: str, json: JsonOpt = False) -> None:
    """The project's webhooks (their secrets are never shown again)."""
    with connected() as client:
        found = client.webhooks(name)
    if json:
        emit_json(found)
        return
    table(
        None,
        ["id", "url", "level", "added"],
        [(h.id, h.url, h.level.value, when(h.created_at)) for h in found],
    )


@webhook.command("rm")
def webhook_rm(name: str, webhook_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Stop sending the project's notices to a webhook (managers); `webhook ls` shows the ids."""
    with connected() as client:
        client.remove_webhook(name, webhook_id)
    console.print(Text(f"removed webhook {webhook_id} of {name}"))
