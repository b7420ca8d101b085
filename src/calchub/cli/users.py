"""calchub user ls | add | show | block | unblock | passwd | role | quota | rm | revoke-sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from calchub.cli import quotas
from calchub.cli.output import connected, console, emit_json, fail, print_lines, table, when
from calchub.domain.permissions import Role

if TYPE_CHECKING:
    from calchub.contracts.users import User

app = typer.Typer(
    help="Accounts: who may sign in, with what role and quotas (moderators and admins).", no_args_is_help=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from the first line of standard input")
]


def new_password(from_stdin: bool, label: str = "password") -> str:
    """A password read from stdin, or typed twice without echo."""
    if not from_stdin:
        typed: str = typer.prompt(label, hide_input=True, confirmation_prompt=True)
        return typed
    line = typer.get_text_stream("stdin").readline().rstrip("\r\n")
    if not line:
        fail("--password-stdin: standard input held no password; pipe one in, e.g. `cat pw | calchub ...`")
    return line


@app.command("ls")
def ls(json: JsonOpt = False) -> None:
    """Every account, with its role and projects."""
    with connected() as client:
        found = client.users()
    if json:
        emit_json(found)
        return
    rows = [
        (
            u.username,
            u.role,
            u.email or "-",
            "blocked" if u.blocked else "-",
            ", ".join(m.project for m in u.projects) or "-",
            when(u.created_at),
        )
        for u in found
    ]
    table(None, ["username", "role", "email", "blocked", "projects", "created"], rows)


@app.command("add")
def add(
    username: str,
    role: Annotated[Role, typer.Option(help="what they may do")] = Role.USER,
    email: Annotated[str | None, typer.Option(help="where notifications go")] = None,
    project: Annotated[list[str] | None, typer.Option("--project", "-p", help="join as a member")] = None,
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="no password: they cannot sign in until one is set")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Add an account (admins); asks for its password unless --password-stdin or --no-password."""
    if password_stdin and no_password:
        fail("give --password-stdin or --no-password, not both")
    password = None if no_password else new_password(password_stdin)
    with connected() as client:
        user = client.create_user(username, password, role, email, project or [])
    if json:
        emit_json(user)
        return
    console.print(Text(f"added {user.role} {user.username}"))
    if password is None:
        console.print(Text(f"they cannot sign in until `calchub user passwd {user.username}`"))


@app.command("show")
def show(username: str, json: JsonOpt = False) -> None:
    """One account: role, email, quotas and projects."""
    with connected() as client:
        user = client.user(username)
    emit_json(user) if json else _describe(user)


def _describe(user: User) -> None:
    lines = [
        f"{user.username}  {user.role}{'  BLOCKED' if user.blocked else ''}",
        f"email     {user.email or '-'}",
        f"created   {when(user.created_at)}",
        f"quotas    {quotas.describe(user.quotas)}",
    ]
    print_lines(lines)
    table("projects", ["project", "role"], [(m.project, m.role) for m in user.projects])


@app.command("block")
def block(username: str) -> None:
    """Refuse the user's sign-ins and tokens until unblocked (moderators)."""
    with connected() as client:
        client.block_user(username)
    console.print(Text(f"blocked {username}"))


@app.command("unblock")
def unblock(username: str) -> None:
    """Let a blocked user in again (moderators)."""
    with connected() as client:
        client.unblock_user(username)
    console.print(Text(f"unblocked {username}"))


@app.command("passwd")
def passwd(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set someone's password (moderators, for users; admins, for anyone)."""
    password = new_password(password_stdin, f"new password for {username}")
    with connected() as client:
        client.set_password(username, password)
    console.print(Text(f"set the password of {username}"))


@app.command("role")
def role(
    username: str, new_role: Annotated[Role, typer.Argument(metavar="ROLE")], json: JsonOpt = False
) -> None:
    """Make someone a user, moderator or admin (admins)."""
    with connected() as client:
        user = client.update_user(username, role=new_role)
    emit_json(user) if json else console.print(Text(f"{user.username} is now {user.role}"))


@app.command("quota")
def quota(
    username: str,
    max_running: quotas.MaxRunning = None,
    max_queued: quotas.MaxQueued = None,
    core_hours: quotas.CoreHours = None,
    days: quotas.Days = None,
    unlimited: quotas.Unlimited = None,
    json: JsonOpt = False,
) -> None:
    """Change a user's limits (admins); limits not named stay as they are."""
    with connected() as client:
        chosen = quotas.merged(
            client.user(username).quotas, max_running, max_queued, core_hours, days, unlimited
        )
        if chosen is None:
            fail("name a limit to change: --max-running, --max-queued, --core-hours, --days or --unlimited")
        user = client.update_user(username, quotas=chosen)
    if json:
        emit_json(user)
        return
    console.print(Text(f"{user.username}: {quotas.describe(user.quotas)}"))


@app.command("rm")
def rm(username: str, yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False) -> None:
    """Delete an account (admins)."""
    if not yes:
        typer.confirm(f"delete the account {username}?", abort=True)
    with connected() as client:
        client.delete_user(username)
    console.print(Text(f"deleted {username}"))


@app.command("revoke-sessions")
def revoke_sessions(
    username: Annotated[str | None, typer.Argument(help="whose sessions; leave out with --all")] = None,
    all_: Annotated[bool, typer.Option("--all", help="everyone's sessions (admins)")] = False,
) -> None:
    """Sign someone out everywhere: their sign-in sessions (refresh tokens) end."""
    if (username is None) == (not all_):
        fail("give a USERNAME or --all")
    with connected() as client:
        ended = client.revoke_all_sessions() if all_ else client.revoke_sessions(username or "")
    console.print(Text(f"ended {ended.revoked} session(s) of {username or 'everyone'}"))
