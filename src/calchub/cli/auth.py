"""calchub login, calchub passwd, and calchub token ls | create | revoke."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from calchub.cli.output import connected, console, emit_json, fail, friendly_errors, print_lines, table, when

tokens = typer.Typer(
    help="Personal API tokens (for scripts, notebooks and CALCHUB_TOKEN).", no_args_is_help=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(passwd)
    app.command()(me)


def login(
    url: Annotated[str, typer.Argument(help="the server, e.g. https://calchub.example.org")],
    username: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    days: Annotated[int, typer.Option(min=1, max=3650, help="the saved token expires after this")] = 30,
) -> None:
    """Log in to a server and save a token under CALCHUB_HOME for later commands."""
    from calchub.client import Client
    from calchub.contracts.local import CLIENT_FILE, ClientConfig, home_from_env, write_private

    with friendly_errors(), Client(url, token="none") as client:
        issued = client.login(username, password, days)
    path = home_from_env() / CLIENT_FILE
    write_private(path, ClientConfig(url=url.rstrip("/"), token=issued.token, username=username))
    console.print(
        Text(f"logged in to {url} as {username}; saved in {path} (until {when(issued.expires_at)})")
    )


def passwd() -> None:
    """Change your own password."""
    from calchub.cli.users import new_password

    current = typer.prompt("current password", hide_input=True)
    password = new_password(False, "new password")
    with connected() as client:
        client.change_password(current, password)
    console.print("password changed")


def me(
    email: Annotated[str | None, typer.Option(help="set the address calchub writes to")] = None,
    no_email: Annotated[bool, typer.Option("--no-email", help="remove your email address")] = False,
    notify: Annotated[
        str | None,
        typer.Option(help="info: every state change of your calculations; error: failures only; none"),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Who you are here, where calchub writes to you and how much; with options, change those."""
    from calchub.contracts.users import NotifyLevel

    levels = [level.value for level in NotifyLevel]
    if notify is not None and notify not in levels:
        fail(f"--notify is one of {', '.join(levels)}, not {notify!r}")
    if email is not None and no_email:
        fail("give --email ADDRESS or --no-email, not both")
    with connected() as client:
        changes = email is not None or no_email or notify is not None
        found = client.update_me(email=email, notify=notify, clear_email=no_email) if changes else client.me()
    if json:
        emit_json(found)
        return
    projects = ", ".join(f"{m.project} ({m.role.value})" for m in found.projects) or "none"
    print_lines(
        [
            f"{found.username}: {found.role.value}, {found.scope.value} token",
            f"email: {found.email or 'none'}",
            f"notifications: {found.notify.value}",
            f"projects: {projects}",
        ]
    )


@tokens.command("ls")
def ls(json: JsonOpt = False) -> None:
    """Your tokens."""
    with connected() as client:
        found = client.tokens()
    if json:
        emit_json(found)
        return
    rows = [
        (
            t.id,
            t.name,
            t.prefix + "...",
            t.scope,
            when(t.created_at),
            when(t.expires_at) if t.expires_at else "never",
            when(t.revoked_at),
        )
        for t in found
    ]
    table(None, ["id", "name", "prefix", "scope", "created", "expires", "revoked"], rows)


@tokens.command("create")
def create(
    name: str,
    days: Annotated[int | None, typer.Option(help="expire after this many days")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="it may only look, not act")] = False,
    json: JsonOpt = False,
) -> None:
    """Create a token (shown once)."""
    with connected() as client:
        issued = client.create_token(name, days, "read" if read_only else "full")
    if json:
        emit_json(issued)
        return
    console.print(Text(f"{issued.scope} token {issued.id} ({issued.name}), shown once:\n{issued.token}"))


@tokens.command("revoke")
def revoke(token_id: int) -> None:
    """Revoke one of your tokens."""
    with connected() as client:
        client.revoke_token(token_id)
    console.print(f"revoked token {token_id}")
