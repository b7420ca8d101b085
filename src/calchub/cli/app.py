"""The ``calchub`` command line."""

from __future__ import annotations

import typer

from calchub.cli import (
    auth,
    calcs,
    clusters,
    feed,
    inbox,
    models,
    projects,
    results,
    review,
    run,
    studies,
    sweeps,
    types,
    users,
)

app = typer.Typer(
    name="calchub",
    help="calchub: submit, watch, cancel and collect calculations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
calcs.register(app)
review.register(app)
results.register(app)
run.register(app)
auth.register(app)
sweeps.register(app)
studies.register(app)
inbox.register(app)
models.register(app)
app.add_typer(clusters.app, name="cluster")
app.add_typer(auth.tokens, name="token")
app.add_typer(users.app, name="user")
app.add_typer(projects.app, name="project")
app.add_typer(types.app, name="types")
app.add_typer(feed.app, name="feed")


def main() -> None:
    app()
