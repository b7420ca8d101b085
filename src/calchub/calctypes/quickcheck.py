"""A fast first look at inputs against a JSON Schema, for the many points of a sweep.

:func:`accepting` compiles a schema written with the common keywords into a function that
answers True only for an instance that Draft 2020-12, as ``jsonschema`` implements it,
accepts. It answers False as soon as it finds a problem, and also whenever it meets what it
does not model (a Python value that is not plain JSON, an enum of objects): the caller then
asks ``jsonschema``, which decides and names the errors. So it can only be wrong towards
asking ``jsonschema``, never towards accepting. A schema with any other keyword (``$ref``,
``allOf``, ``patternProperties``, ``multipleOf`` ...) compiles to None: ``jsonschema`` alone
judges it. ``jsonschema`` takes about 50 us for a ``shell`` type's inputs, this about 5.

``format`` is an annotation here, as it is for a ``jsonschema`` validator made without a
format checker (the one ``calctypes.inputs`` uses).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Accepts = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",
    }
)
_JSON = frozenset({dict, list, str, int, float, bool, type(None)})


class _Unsupported(Exception):
    """The schema uses what this module does not model."""


def accepting(schema: Any) -> Accepts | None:
    """A function that is True only for instances the schema accepts; None if it cannot be made."""
    try:
        return _node(schema)
    except (_Unsupported, re.error, KeyError, TypeError, ValueError, AttributeError):
        return None


def _node(schema: Any) -> Accepts:
    if schema is True:
        return _always
    if schema is False or not isinstance(schema, dict):
        raise _Unsupported(schema)  # False is rare enough to leave to jsonschema
    checks = tuple(_keyword(key, value, schema) for key, value in schema.items() if key not in _ANNOTATIONS)

    def node(x: Any) -> bool:
        if type(x) not in _JSON:
            return False
        for check in checks:  # noqa: SIM110 (a loop costs half what all() of a generator does)
            if not check(x):
                return False
        return True

    return node if checks else _always


def _always(_: Any) -> bool:
    return True


def _keyword(key: str, value: Any, schema: dict[str, Any]) -> Accepts:
    if key in _BY_KEY:
        return _BY_KEY[key](value)
    if key == "additionalProperties":
        return _additional(value, schema.get("properties", {}))
    raise _Unsupported(key)


#: The Python types of plain JSON each type name takes (an integer may also be a whole float).
_KINDS: dict[str, frozenset[type]] = {
    "object": frozenset({dict}),
    "array": frozenset({list}),
    "string": frozenset({str}),
    "boolean": frozenset({bool}),
    "null": frozenset({type(None)}),
    "number": frozenset({int, float}),
    "integer": frozenset({int}),
}


def _type(names: Any) -> Accepts:
    kinds = [names] if isinstance(names, str) else list(names)
    allowed = frozenset().union(*(_KINDS[kind] for kind in kinds))
    if "integer" in kinds and "number" not in kinds:
        return lambda x: type(x) in allowed or (type(x) is float and x.is_integer())
    return lambda x: type(x) in allowed


def _is(kind: str) -> Accepts:
    allowed = _KINDS[kind]
    return lambda x: type(x) in allowed


def _enum(values: Any) -> Accepts:
    """One of ``values`` as JSON Schema compares (1 is 1.0, True is not 1); objects and arrays
    among them are left to jsonschema."""
    if not isinstance(values, list):
        raise _Unsupported(values)
    texts = frozenset(v for v in values if type(v) is str)
    numbers = frozenset(v for v in values if type(v) is int or type(v) is float)
    truths = frozenset(v for v in values if type(v) is bool)
    null = any(v is None for v in values)

    def check(x: Any) -> bool:
        kind = type(x)
        if kind is str:
            return x in texts
        if kind is int or kind is float:
            return x in numbers
        if kind is bool:
            return x in truths
        return null and x is None

    return check


def _const(value: Any) -> Accepts:
    return _enum([value])


def _properties(properties: Any) -> Accepts:
    subs = tuple((name, _node(sub)) for name, sub in properties.items())

    def check(x: Any) -> bool:
        if type(x) is dict:
            for name, sub in subs:
                if name in x and not sub(x[name]):
                    return False
        return True

    return check


def _additional(extra: Any, properties: Any) -> Accepts:
    known = frozenset(properties)
    if extra is True:
        return _always
    if extra is False:
        return lambda x: type(x) is not dict or known.issuperset(x)
    sub = _node(extra)

    def check(x: Any) -> bool:
        if type(x) is dict:
            for key, value in x.items():
                if key not in known and not sub(value):
                    return False
        return True

    return check


def _required(names: Any) -> Accepts:
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise _Unsupported(names)
    wanted = frozenset(names)
    return lambda x: type(x) is not dict or wanted.issubset(x)


def _property_names(schema: Any) -> Accepts:
    sub = _node(schema)
    return lambda x: type(x) is not dict or all(sub(key) for key in x)


def _items(schema: Any) -> Accepts:
    sub = _node(schema)
    return lambda x: type(x) is not list or all(sub(item) for item in x)


def _pattern(text: Any) -> Accepts:
    search = re.compile(text).search
    return lambda x: type(x) is not str or search(x) is not None


def _bound(limit: Any, holds: Callable[[Any, Any], bool]) -> Accepts:
    if isinstance(limit, bool) or not isinstance(limit, int | float):
        raise _Unsupported(limit)
    return lambda x: (type(x) is not int and type(x) is not float) or holds(x, limit)


def _sized(kind: str, holds: Callable[[int, Any], bool]) -> Callable[[Any], Accepts]:
    def keyword(limit: Any) -> Accepts:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise _Unsupported(limit)
        of = _is(kind)
        return lambda x: not of(x) or holds(len(x), limit)

    return keyword


# The comparisons are jsonschema's own, so NaN and infinities fare as they do there.
_BY_KEY: dict[str, Callable[[Any], Accepts]] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "properties": _properties,
    "required": _required,
    "propertyNames": _property_names,
    "items": _items,
    "pattern": _pattern,
    "minimum": lambda m: _bound(m, lambda x, m: not x < m),
    "maximum": lambda m: _bound(m, lambda x, m: not x > m),
    "exclusiveMinimum": lambda m: _bound(m, lambda x, m: not x <= m),
    "exclusiveMaximum": lambda m: _bound(m, lambda x, m: not x >= m),
    "minLength": _sized("string", lambda n, m: not n < m),
    "maxLength": _sized("string", lambda n, m: not n > m),
    "minItems": _sized("array", lambda n, m: not n < m),
    "maxItems": _sized("array", lambda n, m: not n > m),
    "minProperties": _sized("object", lambda n, m: not n < m),
    "maxProperties": _sized("object", lambda n, m: not n > m),
}
