"""The process runtime: a model package's command, run on this machine on a port calchub assigns.

The command runs in the unpacked package, as the leader of a new session (so stopping
it ends every process it started), with its output appended to the model's log. A
``python`` at the head of the command is the model's Python: the server's own, or a
virtual environment of the package's built from its ``requirements.txt`` on first start
(kept, and rebuilt when the requirements change).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from calchub.contracts.models import Python
from calchub.models.base import Launch, Runtime, Served, StartFailed, model_env

REQUIREMENTS = "requirements.txt"
#: A log over this size is cut to its last ``LOG_KEPT`` bytes when the model starts again.
LOG_LIMIT, LOG_KEPT = 16 * 1024 * 1024, 1024 * 1024
#: Where a package's own environment lives, and the digest of the requirements it was built from.
VENV, BUILT_FROM = ".venv", ".venv/calchub-requirements.sha256"


class ServedProcess(Served):
    def __init__(self, process: asyncio.subprocess.Process, endpoint: str) -> None:
        self.process = process
        self.ident = str(process.pid)
        self.endpoint = endpoint
        self._waiter = asyncio.create_task(process.wait())

    def exit_code(self) -> int | None:
        if not self._waiter.done():
            return None
        return self.process.returncode if self.process.returncode is not None else -1

    async def stop(self, grace: float) -> None:
        if self._waiter.done():
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self._waiter), grace)
        except TimeoutError:
            _signal_group(self.process.pid, signal.SIGKILL)
            await self._waiter


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ProcessRuntime(Runtime):
    name = "process"

    async def start(self, launch: Launch) -> Served:
        if launch.folder is None or not launch.folder.is_dir():
            raise StartFailed("the model's package is missing on this server; register it again")
        launch.log.parent.mkdir(parents=True, exist_ok=True)
        _trim(launch.log)
        with launch.log.open("ab") as log:
            log.write(
                f"--- {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC: starting on port {launch.port}\n".encode()
            )
        python = sys.executable
        if launch.spec.python is Python.VENV:
            python = await asyncio.to_thread(ensure_venv, launch.folder, launch.log)
        command = [
            python if i == 0 and part == "python" else part for i, part in enumerate(launch.spec.command)
        ]
        with launch.log.open("ab") as log:
            try:
                process = await asyncio.create_subprocess_exec(
                    *command,
                    cwd=launch.folder,
                    env=model_env(launch, launch.port, launch.host),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                raise StartFailed(f"could not run {command[0]!r}: {error.strerror or error}") from error
        return ServedProcess(process, f"http://{launch.host}:{launch.port}")


def ensure_venv(folder: Path, log: Path) -> str:
    """The Python of the package's own environment, built (or rebuilt) if its requirements changed."""
    requirements = folder / REQUIREMENTS
    digest = hashlib.sha256(requirements.read_bytes() if requirements.is_file() else b"").hexdigest()
    python = folder / VENV / "bin" / "python"
    marker = folder / BUILT_FROM
    if python.is_file() and marker.is_file() and marker.read_text().strip() == digest:
        return str(python)
    with log.open("ab") as out:
        out.write(b"--- building the model's virtual environment\n")
        out.flush()
        # pip only when there is something to install: a venv without it is made in a blink.
        bare = [] if requirements.is_file() else ["--without-pip"]
        _run([sys.executable, "-m", "venv", "--clear", *bare, str(folder / VENV)], folder, out)
        if requirements.is_file():
            _run(
                [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-r", REQUIREMENTS],
                folder,
                out,
            )
    marker.write_text(digest + "\n")
    return str(python)


def _trim(log: Path) -> None:
    """Keep a model's log from growing without end: over the limit, only its tail stays."""
    try:
        if log.stat().st_size <= LOG_LIMIT:
            return
        with log.open("rb") as old:
            old.seek(-LOG_KEPT, 2)
            tail = old.read()
    except FileNotFoundError:
        return
    log.write_bytes(b"--- (earlier output cut)\n" + tail)


def _run(argv: list[str], cwd: Path, out: IO[bytes]) -> None:
    done = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise StartFailed(
            f"{' '.join(argv[:4])} ... exited with code {done.returncode}; the model's log says why"
        )
