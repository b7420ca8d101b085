"""Parameters of a pipeline: ``${name}`` references in its steps, and their substitution.

A pipeline declares parameters (defaults a run may change with ``--set``, or
the axes of a space). Any string in a step's inputs or env may refer to one:

- a string that is exactly ``"${n}"`` becomes the parameter's value as it is,
  typed (a number stays a number, a list stays a list);
- ``${n}`` inside a longer string is replaced by the value's text (``str()``;
  a float in its shortest form, ``0.1`` not ``0.1000...``; a list or object
  as JSON);
- ``$${`` is a literal ``${`` (so a shell's ``$${HOME}`` reaches the shell
  as ``${HOME}``). Text that must stay as it is, such as a script read from a
  file, is written with :func:`escape`, and :func:`substitute` gives it back.

Pure functions: the pipeline loader checks with :func:`used` that every name
is declared, and the server writes each point's values in with
:func:`substitute` (every step, even with no parameters, since that is what
turns ``$${`` back into ``${``). A reference that cannot be resolved raises
:class:`PipelineError`, whose ``where`` is the dotted path to the value at
fault, as :class:`calchub.domain.sweeps.SweepError` does.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

#: A parameter's name: letters, digits, ``_`` and ``-``, not starting with a digit or ``-``.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,99}")
_TOKEN = re.compile(r"\$\$\{|\$\{(?P<name>[^{}]*)\}|\$\{")


class PipelineError(ValueError):
    """A pipeline's parameters that cannot be used; ``where`` names the value at fault."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.where = where


def check_name(name: str, where: str = "") -> str:
    """``name`` if it can be a parameter's name (``${name}``), else :class:`PipelineError`."""
    if not NAME.fullmatch(name):
        raise PipelineError(
            f"{name!r} is not a parameter name: letters, digits, '_' and '-', "
            "starting with a letter or '_', at most 100 characters",
            where or name,
        )
    return name


def substitute(value: Any, parameters: Mapping[str, Any], where: str = "") -> Any:
    """A copy of ``value`` (dicts, lists, strings, numbers) with the parameters written in.

    ``where`` is the path of ``value`` itself, the start of every error's ``where``.
    """
    if isinstance(value, str):
        return _substitute_text(value, parameters, where)
    if isinstance(value, Mapping):
        return {key: substitute(item, parameters, _key(where, key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(item, parameters, f"{where}[{n}]") for n, item in enumerate(value)]
    return value


def used(value: Any, where: str = "") -> set[str]:
    """The names of the parameters ``value`` refers to, anywhere inside it."""
    return {name for name, _ in _references(value, where)}


def references(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Each reference in ``value``, in order, as (parameter name, dotted path to its string)."""
    return _references(value, where)


def escape(text: str) -> str:
    """``text`` written so that :func:`substitute` gives it back unchanged."""
    return text.replace("${", "$${")


def _substitute_text(text: str, parameters: Mapping[str, Any], where: str) -> Any:
    if "${" not in text:
        return text
    pieces: list[str] = []
    for literal, name in _tokens(text, where):
        if name is None:
            pieces.append(literal)
            continue
        if name not in parameters:
            raise PipelineError(_unknown(name, parameters), where)
        if text == "${" + name + "}":
            return copy.deepcopy(parameters[name])
        pieces.append(_text(parameters[name]))
    return "".join(pieces)


def _references(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if "${" in value:
            yield from ((name, where) for _, name in _tokens(value, where) if name is not None)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _references(item, _key(where, key))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield from _references(item, f"{where}[{n}]")


def _tokens(text: str, where: str) -> Iterator[tuple[str, str | None]]:
    """The text in pieces: (literal text, None) and (``""``, a parameter's name)."""
    start = 0
    for match in _TOKEN.finditer(text):
        yield text[start : match.start()], None
        start = match.end()
        token, name = match.group(0), match.group("name")
        if token == "$${":
            yield "${", None
        elif name is None:
            raise PipelineError("a '${' is not closed: write ${name}, or $${ for a literal '${'", where)
        else:
            yield "", check_name(name, where)
    yield text[start:], None


def _text(value: Any) -> str:
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _unknown(name: str, parameters: Mapping[str, Any]) -> str:
    if not parameters:
        return f"${{{name}}} names a parameter, but there are none: declare it under parameters"
    return f"no parameter named {name!r}; the parameters are: {', '.join(sorted(parameters))}"


def _key(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)
