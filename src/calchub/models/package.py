"""A model package as it travels: a folder zipped by the client, checked and unpacked by the server.

Unpacking refuses what could write outside the folder (absolute paths, ``..``, links)
and what is too big, so a package cannot fill the disk or overwrite anything.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path, PurePosixPath

import yaml
from pydantic import ValidationError

from calchub.contracts.models import MANIFEST, MAX_PACKAGE_BYTES, ModelSpec

#: What is left out of a package: environments and caches rebuilt where it runs.
SKIPPED = frozenset(
    {".venv", "venv", "__pycache__", ".git", ".ipynb_checkpoints", ".mypy_cache", ".pytest_cache"}
)
MAX_FILES = 10_000
#: The most a package may hold unpacked (a zip bomb is refused before it is written).
MAX_UNPACKED_BYTES = 4 * MAX_PACKAGE_BYTES


class PackageError(ValueError):
    """A package that cannot be used, with what to fix."""


def read_manifest(folder: Path) -> ModelSpec:
    """The package's ``calchub-model.yaml``, checked."""
    path = folder / MANIFEST
    if not path.is_file():
        raise PackageError(
            f"{folder} has no {MANIFEST}; `calchub model scaffold NAME` writes a package with one"
        )
    return manifest_from_text(path.read_text(encoding="utf-8"), str(path))


def manifest_from_text(text: str, where: str = MANIFEST) -> ModelSpec:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PackageError(f"{where} is not YAML: {error}") from error
    if not isinstance(loaded, dict):
        raise PackageError(f"{where} must be a mapping (name: ..., version: ...)")
    try:
        return ModelSpec.model_validate(loaded)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'manifest'}: {e['msg']}" for e in error.errors()
        )
        raise PackageError(f"{where}: {problems}") from error


def pack(folder: Path) -> bytes:
    """The folder as a zip, without environments and caches."""
    if not folder.is_dir():
        raise PackageError(f"{folder} is not a folder")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if any(part in SKIPPED for part in relative.parts) or path.is_symlink() or not path.is_file():
                continue
            archive.write(path, relative.as_posix())
    data = buffer.getvalue()
    if len(data) > MAX_PACKAGE_BYTES:
        raise PackageError(f"the package is {len(data)} bytes zipped; at most {MAX_PACKAGE_BYTES} are taken")
    return data


def unpack(data: bytes, folder: Path) -> ModelSpec:
    """Check the zip ``data`` and write it into the new ``folder``; its manifest."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise PackageError(f"the package is not a zip file: {error}") from error
    with archive:
        members = _checked(archive)
        names = {m.filename for m in members}
        if MANIFEST not in names:
            raise PackageError(f"the package has no {MANIFEST} at its top")
        spec = manifest_from_text(archive.read(MANIFEST).decode("utf-8", errors="replace"))
        folder.mkdir(parents=True)
        for member in members:
            target = folder / member.filename
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
            mode = member.external_attr >> 16
            if mode & stat.S_IXUSR:
                target.chmod(0o755)
    return spec


def _checked(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    if len(members) > MAX_FILES:
        raise PackageError(f"the package holds {len(members)} files; at most {MAX_FILES}")
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise PackageError(f"the package unpacks to more than {MAX_UNPACKED_BYTES} bytes")
    for member in members:
        path = PurePosixPath(member.filename)
        if path.is_absolute() or ".." in path.parts or "\\" in member.filename or not member.filename:
            raise PackageError(f"{member.filename!r}: a package's paths stay inside it")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise PackageError(f"{member.filename!r}: a package may not hold links")
    return members
