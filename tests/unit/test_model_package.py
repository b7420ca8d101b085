"""Model packages: zipped without environments, unpacked only when safe, manifests checked."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from calchub.models.package import PackageError, manifest_from_text, pack, read_manifest, unpack

MANIFEST = 'name: lj\nversion: "1"\ncommand: [python, serve.py]\n'


def _zip(files: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def test_pack_leaves_out_environments_and_caches_and_unpack_restores_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "pkg"
    (source / ".venv" / "bin").mkdir(parents=True)
    (source / "__pycache__").mkdir()
    (source / "data").mkdir()
    (source / "calchub-model.yaml").write_text(MANIFEST)
    (source / "serve.py").write_text("print('hi')\n")
    (source / "data" / "w.bin").write_bytes(b"\x00\x01")
    (source / ".venv" / "bin" / "python").write_text("")
    (source / "__pycache__" / "serve.cpython-311.pyc").write_bytes(b"")
    spec = unpack(pack(source), tmp_path / "out")
    assert (spec.name, spec.version) == ("lj", "1")
    found = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()
    )
    assert found == ["calchub-model.yaml", "data/w.bin", "serve.py"]


@pytest.mark.parametrize(
    ("files", "links", "says"),
    [
        ({"calchub-model.yaml": MANIFEST.encode(), "../evil": b""}, (), "stay inside it"),
        ({"calchub-model.yaml": MANIFEST.encode(), "/etc/evil": b""}, (), "stay inside it"),
        ({"calchub-model.yaml": MANIFEST.encode()}, ("link",), "may not hold links"),
        ({"serve.py": b""}, (), "has no calchub-model.yaml"),
        ({"calchub-model.yaml": b"name: [unclosed"}, (), "not YAML"),
        ({"calchub-model.yaml": b"- a list"}, (), "must be a mapping"),
    ],
)
def test_unsafe_or_incomplete_packages_are_refused_and_nothing_is_written(
    tmp_path: Path, files: dict[str, bytes], links: tuple[str, ...], says: str
) -> None:
    with pytest.raises(PackageError, match=says):
        unpack(_zip(files, links), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil").exists()


def test_a_manifest_names_each_wrong_field() -> None:
    with pytest.raises(PackageError) as wrong:
        manifest_from_text('name: "no spaces allowed"\nversion: "1"\nruntime: vm\n')
    assert "name:" in str(wrong.value) and "runtime:" in str(wrong.value)
    with pytest.raises(PackageError, match="names its image"):
        manifest_from_text('name: m\nversion: "1"\nruntime: container\n')
    with pytest.raises(PackageError, match="'image' is for runtime: container"):
        manifest_from_text('name: m\nversion: "1"\nimage: x/y:1\n')
    spec = manifest_from_text('name: m\nversion: "2"\nresources: {memory: 2G}\ninputs: {columns: [t, rho]}\n')
    assert spec.resources.memory == 2 * 1024**3 and spec.inputs and spec.inputs.columns == ["t", "rho"]


def test_a_folder_without_a_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="calchub model scaffold"):
        read_manifest(tmp_path)
