"""The parameter space of a sweep, and the points it expands to.

A space is a list of axes, combined as a product: each point takes one step
of every axis, the last axis changing fastest (as nested loops would). An
axis sets one input or several together:

- ``values_axis("voltage", [0.1, 0.2])``: the values given, in order;
- ``range_axis("t", 0, 1, step=0.25)`` (the stop left out, as Python's
  ``range``) or ``range_axis("t", 0, 1, num=5)`` (the stop included, as
  numpy's ``linspace``); values are computed as ``start + i * step``, so
  they do not drift;
- ``zip_axis({"a": [...], "b": [...]})``: several inputs that step together
  (lists of one length).

An explicit list of points (``points_axis``) is one axis whose steps set
several inputs each. Input names are dotted paths into the calculation's
inputs (``options.samples``); :func:`inputs_at` writes a point into a copy of
a template's inputs.

Everything here is pure: the server checks a request with these functions,
counts its points before making any (:func:`size`), and refuses a space that
is empty, too large, or sets one input twice, with a :class:`SweepError`
that names the part of the request to fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

#: The most points one sweep may have: what one batch of calculations may hold.
MAX_POINTS = 10_000


class SweepError(ValueError):
    """A sweep that cannot be made; ``where`` names the part of the request at fault."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where


@dataclass(frozen=True)
class Axis:
    """One dimension of a space: the inputs it sets, and for each step their values."""

    names: tuple[str, ...]
    steps: tuple[tuple[Any, ...], ...]

    def __len__(self) -> int:
        return len(self.steps)


def values_axis(name: str, values: Sequence[Any]) -> Axis:
    _check_name(name)
    if not values:
        raise SweepError(f"{name}: give at least one value", name)
    return Axis((name,), tuple((v,) for v in values))


def range_axis(
    name: str, start: float, stop: float, *, step: float | None = None, num: int | None = None
) -> Axis:
    """``start`` to ``stop`` by ``step`` (``stop`` left out), or in ``num`` values (``stop`` in)."""
    _check_name(name)
    if (step is None) == (num is None):
        raise SweepError(f"{name}: give either a step or a number of values, not both or neither", name)
    if not all(math.isfinite(x) for x in (start, stop, step or 0)):
        raise SweepError(f"{name}: start, stop and step are finite numbers", name)
    if num is not None:
        if num < 1:
            raise SweepError(f"{name}: the number of values is at least 1", name)
        if num == 1:
            return Axis((name,), ((start,),))
        width = (stop - start) / (num - 1)
        return Axis((name,), tuple((_exact(start + i * width),) for i in range(num)))
    assert step is not None
    if step == 0 or (stop - start) * step < 0:
        raise SweepError(f"{name}: a step of {step:g} never goes from {start:g} to {stop:g}", name)
    count = math.ceil((stop - start) / step - 1e-9)
    if count < 1:
        raise SweepError(f"{name}: the range from {start:g} to {stop:g} is empty", name)
    if count > MAX_POINTS:
        raise SweepError(f"{name}: {count} values, more than the {MAX_POINTS} a sweep may have", name)
    return Axis((name,), tuple((_exact(start + i * step),) for i in range(count)))


def _exact(value: float) -> float:
    """A range's value as people write it: 0.30000000000000004 is 0.3 (and whole numbers of an
    integer range stay integers)."""
    return round(value, 12)


def zip_axis(columns: Mapping[str, Sequence[Any]]) -> Axis:
    """Several inputs that step together: ``{"a": [1, 2], "b": ["x", "y"]}`` is two steps."""
    if not columns:
        raise SweepError("a zip names at least one input")
    for name in columns:
        _check_name(name)
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise SweepError(f"the lists of a zip have one length each: {listed}", next(iter(columns)))
    if not next(iter(lengths.values())):
        raise SweepError("the lists of a zip are empty", next(iter(columns)))
    return Axis(tuple(columns), tuple(zip(*columns.values(), strict=True)))


def points_axis(points: Sequence[Mapping[str, Any]]) -> Axis:
    """An explicit list of points, each setting the same inputs."""
    if not points:
        raise SweepError("give at least one point", "points")
    names = tuple(points[0])
    for name in names:
        _check_name(name)
    for n, point in enumerate(points):
        if set(point) != set(names):
            raise SweepError(
                f"point {n + 1} sets {sorted(point)}, the first sets {sorted(names)}: "
                "every point sets the same inputs",
                f"points[{n}]",
            )
    return Axis(names, tuple(tuple(point[name] for name in names) for point in points))


def _check_name(name: str) -> None:
    parts = name.split(".")
    if not name or any(not part or not part.replace("_", "a").replace("-", "a").isalnum() for part in parts):
        raise SweepError(
            f"{name!r} is not an input name: letters, digits, '_' and '-', parts joined by '.'", name
        )


def size(axes: Sequence[Axis]) -> int:
    """How many points the space has, found without making them."""
    if not axes:
        raise SweepError("a sweep needs at least one axis", "axes")
    seen: dict[str, int] = {}
    for n, axis in enumerate(axes):
        for name in axis.names:
            if name in seen:
                raise SweepError(
                    f"{name} is set by axes {seen[name] + 1} and {n + 1}: set each input once", name
                )
            clash = next((other for other in seen if _nested(name, other)), None)
            if clash is not None:
                raise SweepError(f"{name} and {clash} overlap: one is inside the other", name)
            seen[name] = n
    total = math.prod(len(axis) for axis in axes)
    if total > MAX_POINTS:
        raise SweepError(f"{total} points, more than the {MAX_POINTS} a sweep may have", "axes")
    return total


def _nested(a: str, b: str) -> bool:
    return a.startswith(b + ".") or b.startswith(a + ".")


def points(axes: Sequence[Axis]) -> Iterator[dict[str, Any]]:
    """Each point of the space, as {input name: value}, the last axis changing fastest."""
    size(axes)
    for steps in product(*(axis.steps for axis in axes)):
        point: dict[str, Any] = {}
        for axis, values in zip(axes, steps, strict=True):
            point.update(zip(axis.names, values, strict=True))
        yield point


def inputs_at(template: Mapping[str, Any], point: Mapping[str, Any]) -> dict[str, Any]:
    """The template's inputs with the point's values written in (dotted names reach into objects).

    The template is left as it was. Only the objects on the way to a value written are new;
    the rest are the template's own, shared by every point of a sweep (thousands of them), so
    a point's inputs are to be read or copied, never changed in place.
    """
    inputs = dict(template)
    copied = {id(inputs)}
    for name, value in point.items():
        *path, last = name.split(".")
        here = inputs
        for n, part in enumerate(path):
            child = here.get(part)
            if child is None and part not in here:
                child = here[part] = {}
                copied.add(id(child))
            elif not isinstance(child, dict):
                raise SweepError(
                    f"{'.'.join(path[: n + 1])} is {child!r} in the template, not an object", name
                )
            elif id(child) not in copied:
                child = here[part] = dict(child)
                copied.add(id(child))
            here = child
        here[last] = value
    return inputs
