"""The artifact store: input files, output files and logs, in a local folder.

Layout under the root: ``calcs/<id>/inputs/<path>``, ``calcs/<id>/outputs/<path>``
and ``calcs/<id>/logs/<attempt>/<stream>``. Writes go to a temporary file and are
renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import AsyncIterator, Iterable
from pathlib import Path


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
        tmp = target.with_name(f".{target.name}.part")
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)

    def delete(self, calc_ids: Iterable[int]) -> None:
        for calc_id in calc_ids:
            shutil.rmtree(self._calc(calc_id), ignore_errors=True)
