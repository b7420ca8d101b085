"""calchub feed: the log feed of agent and service events."""

from __future__ import annotations

import typer

app = typer.Typer(help="The feed of agent and service events.", no_args_is_help=True)
