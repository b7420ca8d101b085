"""calchub up | server | agent: the processes that make a calchub."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from calchub.cli.output import console, fail

STOP_SECONDS = 20.0


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(server)
    app.command()(agent)


def _needs_server_extra() -> None:
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("sqlalchemy") is None:
        fail("the server needs the server extra: pip install 'calchub[server]'")


def server(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Run only the server (settings from CALCHUB_* variables; see docs/reference/settings.md)."""
    _needs_server_extra()
    code = subprocess.call([sys.executable, "-m", "calchub.server", "--host", host, "--port", str(port)])
    raise typer.Exit(code)


def agent(
    url: Annotated[str | None, typer.Option(help="the server (else CALCHUB_URL or agent.json)")] = None,
    key: Annotated[str | None, typer.Option(help="the cluster's agent key (else CALCHUB_AGENT_KEY)")] = None,
    root: Annotated[Path | None, typer.Option(help="where work folders go")] = None,
    name: Annotated[str | None, typer.Option(help="this agent's name (default: host name)")] = None,
    cores: Annotated[int | None, typer.Option(help="cores to fill (default: all)")] = None,
    prefetch: Annotated[
        int | None, typer.Option(min=0, help="cores' worth of work to claim ahead (default: --cores)")
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="local (this machine) or slurm (else CALCHUB_AGENT_EXECUTOR)")
    ] = None,
) -> None:
    """Run a site agent: it claims this cluster's work and runs it here (or submits it to Slurm)."""
    import asyncio
    import gc
    import logging

    from calchub.agent.loop import Agent, AgentBroken
    from calchub.agent.settings import AgentConfigError, resolve

    try:
        settings = resolve(url, key, root, name, cores, executor)
    except AgentConfigError as error:
        fail(str(error))
    settings.prefetch = prefetch
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        agent = Agent(settings)
        gc.freeze()  # start-up's objects live as long as the agent: out of the collector's full passes
        await agent.run(stop)

    try:
        asyncio.run(main())
    except AgentBroken as error:
        logging.getLogger("calchub.agent").exception("the agent stopped: %s", error)
        raise typer.Exit(3) from error


def up(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    cores: Annotated[int | None, typer.Option(help="cores the local agent fills (default: all)")] = None,
) -> None:
    """Run a server and a local agent on SQLite under CALCHUB_HOME; Ctrl-C stops both."""
    _needs_server_extra()
    from calchub.contracts.local import AGENT_FILE, home_from_env

    # Started in the background by a script, a process inherits SIGINT ignored; Ctrl-C
    # (or kill -INT) must stop calchub all the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    home = home_from_env()
    env = {**os.environ, "CALCHUB_HOME": str(home)}
    # `kill`, systemd and container runtimes stop with SIGTERM: stop both children as for Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = subprocess.Popen(
        [sys.executable, "-m", "calchub.server", "--host", host, "--port", str(port), "--bootstrap"], env=env
    )
    children = [server]
    try:
        url = f"http://{'127.0.0.1' if host in {'0.0.0.0', '::'} else host}:{port}"
        _wait_healthy(server, url)
        agent_cmd = [sys.executable, "-m", "calchub", "agent"] + (["--cores", str(cores)] if cores else [])
        if not (home / AGENT_FILE).exists():
            fail(
                f"{home / AGENT_FILE} is missing: remove {home} to start afresh, or use `calchub agent --key`"
            )
        children.append(subprocess.Popen(agent_cmd, env=env))
        console.print(
            f"calchub is up at {url} (API docs at {url}/docs), home {home}\n"
            f"try: calchub submit -- echo hello    then: calchub ls",
            highlight=False,
        )
        _watch(children)
    except KeyboardInterrupt:
        console.print("stopping calchub ...")
    finally:
        _stop(children)


def _wait_healthy(server: subprocess.Popen[bytes], url: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            fail(f"the server exited with code {server.returncode} before it was ready (see above)")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # the server's start-up has no event to await from here
    fail(f"the server at {url} did not answer within 60 s")


def _watch(children: list[subprocess.Popen[bytes]]) -> None:
    """Return when any child exits: the pair only makes sense together."""
    pid, status = os.wait()
    for label, child in zip(("server", "agent"), children, strict=False):
        if child.pid == pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            console.print(f"[red]the {label} exited with code {child.returncode}[/red]; stopping the rest")


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    # The agent first, so it can hand its last reports to a server that still listens.
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
