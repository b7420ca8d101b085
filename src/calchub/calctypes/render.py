"""Templates: a type's files and command rendered from the inputs, in a sandbox."""

from __future__ import annotations

import shlex
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calchub.calctypes.api import CalcType, Prepared


class RenderError(ValueError):
    """A template that could not be rendered with the given inputs."""


@cache
def _environment() -> Any:
    """One sandbox for the process: rendering with it is safe from many threads at once."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    return env


@lru_cache(maxsize=4096)
def _compiled(template: str) -> Any:
    """A template compiled once: a sweep renders the same few templates for every point, and
    compiling costs many times what rendering does."""
    return _environment().from_string(template)


@lru_cache(maxsize=4096)
def _pieces(template: str) -> tuple[tuple[bool, str], ...] | None:
    """A template that is only text and ``{{ name }}`` tags, as Jinja2 reads it: (is a name,
    the text or the name) for each piece; None for any other template, which Jinja2 renders."""
    from jinja2 import TemplateError, nodes

    try:
        body = _environment().parse(template).body
    except TemplateError:
        return None  # rendering raises the error, as it did
    if not body:
        return ()
    if len(body) > 1 or not isinstance(body[0], nodes.Output):
        return None
    pieces = []
    for node in body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            pieces.append((False, node.data))
        elif isinstance(node, nodes.Name):
            pieces.append((True, node.name))
        else:
            return None
    return tuple(pieces)


def render(template: str, variables: dict[str, Any], where: str) -> str:
    from jinja2 import TemplateError

    pieces = _pieces(template)
    if pieces is not None:
        # Jinja2 writes a string variable as it is: a sweep renders thousands of such templates
        # this way, each several times faster than through Jinja2.
        written: list[Any] = [variables.get(text) if named else text for named, text in pieces]
        if all(type(piece) is str for piece in written):
            return "".join(written)
    try:
        return str(_compiled(template).render(**variables))
    except TemplateError as error:
        raise RenderError(f"{where}: {error}") from None


def render_all(calctype: CalcType, variables: dict[str, Any]) -> Prepared:
    from calchub.calctypes.api import Prepared

    name = calctype.name
    return Prepared(
        command=[render(arg, variables, f"{name} command") for arg in calctype.command],
        files={path: render(text, variables, f"{name} {path}") for path, text in calctype.templates.items()},
        env={key: render(value, variables, f"{name} env {key}") for key, value in calctype.env.items()},
        resources=dict(calctype.resources),
        keep=list(calctype.keep),
    )
