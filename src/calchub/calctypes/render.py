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


def render(template: str, variables: dict[str, Any], where: str) -> str:
    from jinja2 import TemplateError

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
