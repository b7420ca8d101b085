"""The artifact store: input files, output files and logs, in a local folder.

Layout under the root: ``calcs/<id>/inputs/<path>``, ``calcs/<id>/outputs/<path>``
and ``calcs/<id>/logs/<attempt>/<stream>``. Writes go to a temporary file and are
renamed into place, so a reader never sees half a file (the files of calculations being
made excepted, as no one reads them before they are committed). Calculations made
together that have the same file share its data (hard links): see :meth:`Store.put_many`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path, PurePath


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _calc(self, calc_id: int) -> Path:
        return self.root / "calcs" / str(calc_id)

    def file_path(self, calc_id: int, kind: str, path: str) -> Path:
        return self._calc(calc_id) / f"{kind}s" / path

    def put(self, calc_id: int, kind: str, path: str, data: bytes) -> tuple[int, str]:
        target = self.file_path(calc_id, kind, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return len(data), hashlib.sha256(data).hexdigest()

    def put_many(self, kind: str, files: Sequence[tuple[int, str, bytes]]) -> list[tuple[int, str]]:
        """Write many calculations' files at once, (calculation id, path, data) each; their
        (size, SHA-256), in the same order.

        Data met earlier in the same call is not written again but hard-linked to its first
        copy (a sweep's points often share files): each calculation still has its own file,
        and deleting one calculation leaves the others' whole, as nothing in the store writes
        into a file it did not just make. Where the filesystem refuses a link, the data is
        written again. A file goes straight into a folder this call made (no one reads a
        calculation before its transaction commits), through a renamed temporary file
        anywhere else; each folder is made with one call to the filesystem.
        """
        calcs = str(self.root / "calcs")
        os.makedirs(calcs, exist_ok=True)
        made = {calcs: False}
        first: dict[bytes, tuple[str, str]] = {}  # data -> (its first file, its SHA-256)
        paths = {path for _, path, _ in files}
        relative = {path: str(PurePath(f"{kind}s", path)) for path in paths}  # as file_path joins
        found = []
        for calc_id, path, data in files:
            target = f"{calcs}{os.sep}{calc_id}{os.sep}{relative[path]}"
            fresh = _made(os.path.dirname(target), made)
            known = first.get(data)
            if known is None or not _linked(known[0], target):
                _write(target, data, fresh)
                known = first[data] = (target, hashlib.sha256(data).hexdigest())
            found.append((len(data), known[1]))
        return found

    async def put_stream(
        self, calc_id: int, kind: str, path: str, chunks: AsyncIterator[bytes], limit: int
    ) -> tuple[int, str] | None:
        """Write a streamed upload; None (and nothing kept) when it grows past ``limit``."""
        target = self.file_path(calc_id, kind, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        digest, size = hashlib.sha256(), 0
        with tmp.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    out.close()
                    tmp.unlink(missing_ok=True)
                    return None
                digest.update(chunk)
                out.write(chunk)
        os.replace(tmp, target)
        return size, digest.hexdigest()

    def log_path(self, calc_id: int, attempt: int, stream: str) -> Path:
        return self._calc(calc_id) / "logs" / str(attempt) / stream

    def append_log(self, calc_id: int, attempt: int, stream: str, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset``; a resent chunk overwrites itself. Returns the new size."""
        path = self.log_path(calc_id, attempt, stream)
        path.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size if path.exists() else 0
        if offset > size:
            raise ValueError(f"log chunk at offset {offset} leaves a gap after {size} bytes")
        with path.open("r+b" if path.exists() else "wb") as out:
            out.seek(offset)
            out.write(data)
            return max(size, offset + len(data))

    def read_log(self, calc_id: int, attempt: int, stream: str, offset: int = 0, limit: int = -1) -> bytes:
        """The log from ``offset`` on: all of it, or at most ``limit`` bytes."""
        path = self.log_path(calc_id, attempt, stream)
        if not path.exists():
            return b""
        with path.open("rb") as src:
            src.seek(offset)
            return src.read(limit)

    def log_size(self, calc_id: int, attempt: int, stream: str) -> int:
        path = self.log_path(calc_id, attempt, stream)
        return path.stat().st_size if path.exists() else 0

    def link(self, calc_id: int, kind: str, path: str, to_calc: int, to_kind: str, to_path: str) -> None:
        """Give ``to_calc`` the file ``path`` of ``calc_id``: a hard link (the store is one
        filesystem), or a copy where links are refused. Either may be deleted on its own."""
        source = self.file_path(calc_id, kind, path)
        target = self.file_path(to_calc, to_kind, to_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not _linked(str(source), str(target)):
            tmp = _part(str(target))
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)

    def delete(self, calc_ids: Iterable[int]) -> None:
        for calc_id in calc_ids:
            shutil.rmtree(self._calc(calc_id), ignore_errors=True)


def _made(folder: str, made: dict[str, bool]) -> bool:
    """Make ``folder`` and those it is in, once per batch (``made``: folder -> made by it);
    whether this batch made it, so it held nothing before."""
    if folder in made:
        return made[folder]
    _made(os.path.dirname(folder), made)
    try:
        os.mkdir(folder)
        made[folder] = True
    except FileExistsError:
        made[folder] = False
    return made[folder]


def _write(target: str, data: bytes, fresh: bool) -> None:
    if fresh:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            pass  # the same path twice in one batch: replaced, as below
        else:
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            return
    tmp = _part(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, target)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _linked(source: str, target: str) -> bool:
    """Make ``target`` a hard link to ``source``; False where the filesystem refuses."""
    try:
        os.link(source, target)
    except FileExistsError:
        tmp = _part(target)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        try:
            os.link(source, tmp)
        except OSError:
            return False
        os.replace(tmp, target)
    except OSError:  # no links on this filesystem, or too many to one file
        return False
    return True


def _part(target: str) -> str:
    folder, name = os.path.split(target)
    return os.path.join(folder, f".{name}.part")
