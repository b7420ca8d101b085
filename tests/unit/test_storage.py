"""The artifact store writes a batch's files once per content, and each calculation keeps its own."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from calchub.server.storage import Store


def _digest(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


def test_a_file_shared_by_a_batch_is_written_once_and_each_calculation_keeps_its_own(tmp_path: Path) -> None:
    store = Store(tmp_path)
    script, data = b"echo same\n", b"\x00\x01" * 1000
    found = store.put_many("input", [(1, "run.sh", script), (1, "in/data.bin", data), (2, "run.sh", script)])
    assert found == [_digest(script), _digest(data), _digest(script)]
    first, second = store.file_path(1, "input", "run.sh"), store.file_path(2, "input", "run.sh")
    assert first != second and os.path.samefile(first, second), "one copy of the data, linked"
    assert first.stat().st_nlink == 2
    assert store.file_path(1, "input", "in/data.bin").read_bytes() == data
    store.delete([1])
    assert not first.exists() and second.read_bytes() == script, "deleting one leaves the other's file"
    assert second.stat().st_nlink == 1


def test_different_contents_are_different_files(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.put_many("input", [(1, "run.sh", b"echo 1"), (2, "run.sh", b"echo 2")])
    first, second = store.file_path(1, "input", "run.sh"), store.file_path(2, "input", "run.sh")
    assert not os.path.samefile(first, second)
    assert (first.read_bytes(), second.read_bytes()) == (b"echo 1", b"echo 2")
    assert list(first.parent.iterdir()) == [first], "no temporary files left"


def test_a_calculation_folder_left_from_before_gets_its_files_replaced_whole(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.put(7, "input", "run.sh", b"an older, longer script")  # an id used by a batch that rolled back
    store.put_many("input", [(7, "run.sh", b"new"), (8, "run.sh", b"new")])
    assert store.file_path(7, "input", "run.sh").read_bytes() == b"new"
    assert sorted(p.name for p in store.file_path(7, "input", "run.sh").parent.iterdir()) == ["run.sh"]
    store.put_many("input", [(9, "run.sh", b"newer"), (7, "run.sh", b"newer")])  # linked over the old name
    assert store.file_path(7, "input", "run.sh").read_bytes() == b"newer"
    assert os.path.samefile(store.file_path(7, "input", "run.sh"), store.file_path(9, "input", "run.sh"))


def test_where_links_are_refused_every_calculation_gets_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: str, target: str) -> None:
        raise PermissionError(1, "links are not allowed here")

    monkeypatch.setattr(os, "link", refuse)
    store = Store(tmp_path)
    found = store.put_many("input", [(n, "run.sh", b"same") for n in (1, 2, 3)])
    assert found == [_digest(b"same")] * 3
    paths = [store.file_path(n, "input", "run.sh") for n in (1, 2, 3)]
    assert all(p.read_bytes() == b"same" and p.stat().st_nlink == 1 for p in paths)
