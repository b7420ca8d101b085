"""Finding calculation types: built-ins, the ``calchub.calctypes`` entry points, and a folder.

The folder is ``$CALCHUB_HOME/calctypes``: every ``*.yaml``/``*.yml`` file is one
type, every ``*.py`` file may define :class:`CalcType` subclasses. A type that
cannot be registered is refused with its reason; the others still load.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from calchub.calctypes.api import CalcType, TypeRefused
from calchub.calctypes.graph import check_graph
from calchub.calctypes.inputs import check_schema
from calchub.contracts.calculations import Resources

log = logging.getLogger("calchub.calctypes")
GROUP = "calchub.calctypes"
BUILTINS = (
    "calchub.calctypes.builtins.shell",
    "calchub.calctypes.builtins.python",
    "calchub.calctypes.builtins.bumps",
    "calchub.calctypes.builtins.lammps",
)


class UnknownType(LookupError):
    pass


@dataclass
class Registry:
    types: dict[str, CalcType] = field(default_factory=dict)
    #: Source -> why it was refused.
    refused: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> CalcType:
        try:
            return self.types[name]
        except KeyError:
            known = ", ".join(sorted(self.types)) or "none"
            raise UnknownType(f"there is no calculation type {name!r}; known types: {known}") from None

    def add(self, calctype: CalcType, source: str) -> None:
        calctype.source = source
        try:
            register_check(calctype)
        except (TypeRefused, ValueError) as error:
            self.refuse(source, str(error))
            return
        if calctype.name in self.types:
            first = self.types[calctype.name].source
            self.refuse(source, f"type {calctype.name!r} is already defined by {first}")
            return
        self.types[calctype.name] = calctype

    def refuse(self, source: str, error: str) -> None:
        log.error("calculation type refused: %s: %s", source, error, extra={"action": "calctypes.refused"})
        self.refused[source] = error


def register_check(calctype: CalcType) -> None:
    """Everything a type must get right before anyone may submit it."""
    name = getattr(calctype, "name", None)
    if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
        raise TypeRefused(f"{type(calctype).__name__}: name must be a word like 'lammps', not {name!r}")
    if not isinstance(getattr(calctype, "version", None), str) or not calctype.version:
        raise TypeRefused(f"type {name!r}: version must be a non-empty string such as '1.0'")
    if not calctype.command:
        raise TypeRefused(f"type {name!r}: command is empty")
    try:
        check_schema(calctype.schema)
    except Exception as error:
        raise TypeRefused(f"type {name!r}: the input schema is not valid JSON Schema: {error}") from None
    if calctype.schema.get("type") != "object":
        raise TypeRefused(f"type {name!r}: the input schema must describe an object")
    try:
        Resources.model_validate(calctype.resources)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise TypeRefused(f"type {name!r}: default resources: {problems}") from None
    check_graph(name, calctype.provides, calctype.analyses)


def discover(home: Path | None = None, builtins: bool = True, plugins: bool = True) -> Registry:
    registry = Registry()
    if builtins:
        for module_name in BUILTINS:
            try:
                module = importlib.import_module(module_name)
            except ImportError as error:
                registry.refuse(module_name, f"could not be imported: {error}")
                continue
            _add_module(registry, module, module_name)
    if plugins:
        for point in entry_points(group=GROUP):
            _add_entry_point(registry, point)
    if home is not None:
        load_folder(registry, home / "calctypes")
    return registry


def _add_entry_point(registry: Registry, point: Any) -> None:
    source = f"entry point {point.name} ({point.value})"
    try:
        loaded = point.load()
    except Exception as error:
        registry.refuse(source, f"could not be imported: {error}")
        return
    if isinstance(loaded, ModuleType):
        _add_module(registry, loaded, source)
    elif inspect.isclass(loaded) and issubclass(loaded, CalcType):
        registry.add(loaded(), source)
    else:
        registry.refuse(source, "must name a CalcType subclass or a module that defines some")


def load_folder(registry: Registry, folder: Path) -> None:
    from calchub.calctypes.declarative import load_yaml

    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.suffix in {".yaml", ".yml"}:
            try:
                registry.add(load_yaml(path), str(path))
            except (TypeRefused, ValueError, OSError) as error:
                registry.refuse(str(path), str(error))
        elif path.suffix == ".py":
            try:
                module = _import_file(path)
            except Exception as error:
                registry.refuse(str(path), f"could not be imported: {type(error).__name__}: {error}")
                continue
            _add_module(registry, module, str(path))


def _import_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"calchub_calctypes_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _add_module(registry: Registry, module: ModuleType, source: str) -> None:
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, CalcType)
        and obj.__module__ == module.__name__
        and "name" in vars(obj)
    ]
    if not found:
        registry.refuse(source, "defines no CalcType subclass with a name")
    for cls in found:
        registry.add(cls(), source)
