"""Logs and files: agents write them, users read them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from sqlalchemy.orm import Session

from calchub.contracts.calculations import FileInfo, check_relative_path
from calchub.domain.states import State
from calchub.server.db.tables import Calculation, CalculationFile
from calchub.server.repositories import calculations as repo
from calchub.server.services.auth import AgentCaller, Caller
from calchub.server.services.calculations import visible
from calchub.server.services.errors import Conflict, Invalid, NotFound
from calchub.server.services.unit import wake
from calchub.server.storage import Store

STREAMS = ("stdout", "stderr")


def checked_path(path: str) -> str:
    try:
        return check_relative_path(path)
    except ValueError as error:
        raise Invalid(str(error), "path") from None


def attempt_of_agent(session: Session, agent: AgentCaller, calc_id: int, attempt: int) -> Calculation:
    """The calculation, if this agent's cluster runs it and ``attempt`` is its current one
    (attempt 0 was never claimed: nothing may write to it)."""
    calc = repo.get(session, calc_id)
    if calc is None or calc.cluster_id != agent.cluster_id:
        raise NotFound(f"no calculation {calc_id} on cluster {agent.cluster!r}")
    if attempt == 0:
        raise Conflict(f"calculation {calc_id} was never claimed; claim it before sending its files")
    if calc.attempt != attempt:
        raise Conflict(f"attempt {attempt} of calculation {calc_id} is over (now at {calc.attempt})")
    return calc


def append_log(
    session: Session, store: Store, calc: Calculation, stream: str, offset: int, data: bytes
) -> int:
    if stream not in STREAMS:
        raise Invalid(f"stream must be one of {', '.join(STREAMS)}", "stream")
    try:
        size = store.append_log(calc.id, calc.attempt, stream, offset, data)
    except ValueError as error:
        raise Conflict(str(error)) from None
    wake(session, f"calc:{calc.id}")
    return size


def record_output(session: Session, calc: Calculation, path: str, size: int, sha256: str) -> FileInfo:
    repo.put_file(
        session,
        CalculationFile(
            calculation_id=calc.id,
            attempt=calc.attempt,
            kind="output",
            path=path,
            size=size,
            sha256=sha256,
        ),
    )
    return FileInfo(path=path, kind="output", size=size, sha256=sha256)


def input_path(session: Session, store: Store, calc: Calculation, path: str) -> Path:
    if repo.file_of(session, calc.id, "input", path) is None:
        raise NotFound(f"calculation {calc.id} has no input file {path!r}")
    return store.file_path(calc.id, "input", path)


def listing(session: Session, caller: Caller, calc_id: int) -> list[FileInfo]:
    visible(session, caller, calc_id)
    return [
        FileInfo(path=f.path, kind=f.kind, size=f.size, sha256=f.sha256)
        for f in repo.files_of(session, [calc_id])[calc_id]
    ]


def one(
    session: Session, store: Store, caller: Caller, calc_id: int, path: str, kind: str
) -> tuple[CalculationFile, Path]:
    visible(session, caller, calc_id)
    record = repo.file_of(session, calc_id, kind, checked_path(path))
    if record is None:
        raise NotFound(f"calculation {calc_id} has no {kind} file {path!r}")
    return record, store.file_path(calc_id, kind, record.path)


def every(session: Session, store: Store, caller: Caller, calc_id: int) -> list[tuple[str, Path]]:
    """(name in the zip, where it is stored) for every file of a calculation."""
    files = listing(session, caller, calc_id)
    return [(f"{f.kind}s/{f.path}", store.file_path(calc_id, f.kind, f.path)) for f in files]


def archive(session: Session, store: Store, caller: Caller, calc_id: int) -> bytes:
    """Every input and output file, and the logs of the latest attempt, as one zip."""
    entries = every(session, store, caller, calc_id)
    attempt, _ = log_view(session, caller, calc_id, None)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, where in entries:
            if where.exists():
                zipped.write(where, f"calc-{calc_id}/{name}")
        for stream in STREAMS:
            log = store.log_path(calc_id, attempt, stream)
            if log.exists():
                zipped.write(log, f"calc-{calc_id}/logs/{stream}")
    return buffer.getvalue()


def log_view(session: Session, caller: Caller, calc_id: int, attempt: int | None) -> tuple[int, State]:
    calc = visible(session, caller, calc_id)
    chosen = calc.attempt if attempt is None else attempt
    if not 0 <= chosen <= calc.attempt:
        raise NotFound(f"calculation {calc_id} has no attempt {chosen}")
    return chosen, State(calc.state)


def stored_inputs(
    session: Session, store: Store, caller: Caller, calc_id: int, paths: list[str]
) -> list[tuple[str, bytes]]:
    """Input files of a calculation the caller may see, to submit again with a copy of it."""
    visible(session, caller, calc_id)
    found = []
    for path in paths:
        record = repo.file_of(session, calc_id, "input", checked_path(path))
        if record is None:
            raise NotFound(f"calculation {calc_id} has no input file {path!r} to keep", "files")
        found.append((record.path, store.file_path(calc_id, "input", record.path).read_bytes()))
    return found
