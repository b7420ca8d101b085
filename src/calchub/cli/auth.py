"""calchub login, and calchub token ls | create | revoke."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from calchub.cli.output import connect, console, emit_json, friendly_errors, table

tokens = typer.Typer(
    help="Personal API tokens (for scripts, notebooks and CALCHUB_TOKEN).", no_args_is_help=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def register(app: typer.Typer) -> None:
    app.command()(login)


def login(
    url: Annotated[str, typer.Argument(help="the server, e.g. https://calchub.example.org")],
    username: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
) -> None:
    """Log in to a server and save the token under CALCHUB_HOME for later commands."""
    from calchub.client import Client
    from calchub.contracts.local import CLIENT_FILE, ClientConfig, home_from_env, write_private

    with friendly_errors():
        issued = Client(url, token="none").login(username, password)
    path = home_from_env() / CLIENT_FILE
    write_private(path, ClientConfig(url=url.rstrip("/"), token=issued["token"], username=username))
    console.print(Text(f"logged in to {url} as {username}; saved in {path}"))


@tokens.command("ls")
def ls(json: JsonOpt = False) -> None:
    """Your tokens."""
    with friendly_errors():
        found = connect().tokens()
    if json:
        emit_json(found)
        return
    rows = [
        (t["id"], t["name"], t["prefix"] + "...", t["expires_at"] or "never", t["revoked_at"] or "-")
        for t in found
    ]
    table(None, ["id", "name", "prefix", "expires", "revoked"], rows)


@tokens.command("create")
def create(
    name: str,
    days: Annotated[int | None, typer.Option(help="expire after this many days")] = None,
    json: JsonOpt = False,
) -> None:
    """Create a token (shown once)."""
    with friendly_errors():
        issued = connect().create_token(name, days)
    if json:
        emit_json(issued)
        return
    console.print(Text(f"token {issued['id']} ({name}), shown once:\n{issued['token']}"))


@tokens.command("revoke")
def revoke(token_id: int) -> None:
    """Revoke one of your tokens."""
    with friendly_errors():
        connect().revoke_token(token_id)
    console.print(f"revoked token {token_id}")
