"""``python -m calchub.server``: run the server (what `calchub server` and `calchub up` start)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path

import uvicorn

from calchub.contracts.local import (
    AGENT_FILE,
    CLIENT_FILE,
    AgentConfig,
    ClientConfig,
    write_private,
)
from calchub.server.app import create_app
from calchub.server.db.migrate import upgrade
from calchub.server.hub import Hub
from calchub.server.services.people import bootstrap
from calchub.server.settings import Settings

SHUTDOWN_GRACE_SECONDS = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="calchub server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--bootstrap",
        action="store_true",
        help="on an empty database, create an admin and a local cluster, "
        "and write their credentials under CALCHUB_HOME",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValueError as error:
        print(f"calchub server: bad settings: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    hub = Hub.from_settings(settings)
    upgrade(hub.engine)
    if args.bootstrap:
        _bootstrap(hub, settings.home, f"http://{_reachable(args.host)}:{args.port}")
    hub.engine.dispose()
    app = create_app(settings)
    # What start-up made (modules, the app) lives as long as the process: keep it out of the
    # collector's full passes, which would otherwise rescan it all under load.
    gc.freeze()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        access_log=os.environ.get("CALCHUB_ACCESS_LOG") == "1",
        # Long-polls (agents' claims, waits) and log follows would hold a stop for up to
        # 20 s, or for ever; their clients retry, so cut them off after a short grace.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    return 0


def _reachable(host: str) -> str:
    return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host


def _bootstrap(hub: Hub, home: Path, url: str) -> None:
    with hub.uow() as session:
        made = bootstrap(session)
    if made is None:
        _follow_port(home, url)
        return
    write_private(home / CLIENT_FILE, ClientConfig(url=url, token=made.token, username=made.username))
    write_private(home / AGENT_FILE, AgentConfig(url=url, key=made.agent_key, cluster=made.cluster))
    print(
        f"calchub: first run. Created user 'admin' with password {made.password} "
        f"(log in with `calchub login` elsewhere); the CLI here is logged in already "
        f"through {home / CLIENT_FILE}. Created cluster {made.cluster!r}.",
        flush=True,
    )


def _follow_port(home: Path, url: str) -> None:
    """A later `calchub up --port N` moves the saved address along with the server."""
    for name, model in ((CLIENT_FILE, ClientConfig), (AGENT_FILE, AgentConfig)):
        path = home / name
        if path.exists():
            saved = model.model_validate_json(path.read_text())
            if saved.url != url:
                write_private(path, saved.model_copy(update={"url": url}))


if __name__ == "__main__":
    sys.exit(main())
