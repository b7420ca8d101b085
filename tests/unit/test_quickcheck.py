"""The quick schema check never accepts what jsonschema refuses, and it does accept the usual inputs."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from calchub.calctypes.builtins.shell import Shell
from calchub.calctypes.inputs import check_request, schema_check
from calchub.calctypes.quickcheck import accepting
from calchub.calctypes.registry import discover


def _valid(schema: Any, instance: Any) -> bool:
    return not list(Draft202012Validator(schema).iter_errors(instance))


EDGES: list[tuple[dict[str, Any], Any]] = [
    ({"type": "integer"}, 1),
    ({"type": "integer"}, 1.0),  # JSON has one number type: a whole float is an integer
    ({"type": "integer"}, 1.5),
    ({"type": "integer"}, True),
    ({"type": "integer"}, math.inf),
    ({"type": "number"}, True),
    ({"type": "number"}, Decimal("1.5")),  # a number to jsonschema, not plain JSON here
    ({"type": ["string", "null"]}, None),
    ({"type": "object"}, (1, 2)),
    ({"enum": [1, "a", None]}, 1.0),
    ({"enum": [1, "a", None]}, True),
    ({"enum": [True]}, 1),
    ({"enum": [[1], {"a": 1}]}, [1]),  # objects and arrays are left to jsonschema
    ({"const": "x"}, "x"),
    ({"const": 0}, False),
    ({"minimum": 0}, math.nan),
    ({"minimum": 0}, -math.inf),
    ({"minimum": 1}, "0"),  # bounds apply to numbers only
    ({"exclusiveMaximum": 1}, 1),
    ({"minLength": 2}, "é"),
    ({"maxLength": 1}, "é"),
    ({"pattern": "^a"}, "ba"),
    ({"pattern": "a"}, "ba"),  # a search, not a match
    ({"format": "email"}, "not an address"),  # an annotation without a format checker
    ({"required": ["a"]}, {"b": 1}),
    ({"required": ["a"]}, ["a"]),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"a": "x", "b": 1}),
    (
        {"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}},
        {"a": "x", "b": 1},
    ),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"ab": 1, "C": 2}),
    ({"items": {"type": "integer"}, "minItems": 1}, []),
    ({"items": {"type": "integer"}}, [1, 2.0, 3]),
    ({"type": "object", "maxProperties": 1}, {"a": 1, "b": 2}),
]


@pytest.mark.parametrize(("schema", "instance"), EDGES)
def test_the_quick_check_accepts_only_what_jsonschema_accepts(schema: dict[str, Any], instance: Any) -> None:
    accepts = accepting(schema)
    assert accepts is not None
    if accepts(instance):
        assert _valid(schema, instance)
    expected = [e.message for e in Draft202012Validator(schema).iter_errors(instance)]
    assert [e.message for e in schema_check(schema).errors(instance)] == expected


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/$defs/x", "$defs": {"x": {}}},
        {"allOf": [{"type": "string"}]},
        {"patternProperties": {"^a": {}}},
        {"multipleOf": 2},
        {"prefixItems": [{}]},
        {"type": "date"},
        {"pattern": "("},
        {"properties": {"a": False}},
        {"x-widget": "slider"},
    ],
)
def test_a_schema_with_other_keywords_is_left_to_jsonschema(schema: dict[str, Any]) -> None:
    assert accepting(schema) is None


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 2 else 7)
    return [
        lambda: rng.choice([0, 1, -3, 7, 1000]),
        lambda: rng.choice([0.0, 1.0, 2.5, -0.5, math.nan, math.inf]),
        lambda: rng.choice(["", "a", "ab", "water", "Z9", "é"]),
        lambda: rng.choice([True, False]),
        lambda: None,
        lambda: rng.choice(["a", "b", "value", "type", "x"]),
        lambda: rng.choice([(1,), {1}, Decimal(1)]),
        lambda: [_value(rng, depth + 1) for _ in range(rng.randrange(3))],
        lambda: {rng.choice("abcxyz"): _value(rng, depth + 1) for _ in range(rng.randrange(3))},
    ][kind]()


def _schema(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """A random schema of the keywords the quick check models."""
    choices: list[tuple[str, Any]] = [
        (
            "type",
            lambda: rng.choice(["integer", "number", "string", "boolean", "null", ["integer", "string"]]),
        ),
        ("enum", lambda: [_value(rng, 2) for _ in range(1 + rng.randrange(3))]),
        ("const", lambda: _value(rng, 2)),
        ("minimum", lambda: rng.choice([0, 1, 2.5])),
        ("exclusiveMaximum", lambda: rng.choice([1, 7.5])),
        ("minLength", lambda: rng.randrange(3)),
        ("maxLength", lambda: rng.randrange(3)),
        ("pattern", lambda: rng.choice(["^a", "[0-9]", "z$"])),
        ("required", lambda: rng.sample(["a", "b", "x"], rng.randrange(3))),
        ("minItems", lambda: rng.randrange(3)),
        ("maxProperties", lambda: rng.randrange(3)),
    ]
    if depth < 2:
        choices += [
            ("properties", lambda: {k: _schema(rng, depth + 1) for k in rng.sample("abx", 2)}),
            ("additionalProperties", lambda: rng.choice([True, False, _schema(rng, depth + 1)])),
            ("items", lambda: _schema(rng, depth + 1)),
            ("propertyNames", lambda: {"pattern": rng.choice(["^[ab]", "x"])}),
        ]
    return {key: make() for key, make in rng.sample(choices, 1 + rng.randrange(3))}


def test_random_schemas_and_inputs_never_pass_where_jsonschema_refuses() -> None:
    rng = random.Random(20261205)
    passed = 0
    for _ in range(4000):
        schema = _schema(rng)
        accepts = accepting(schema)
        assert accepts is not None, schema
        for _ in range(3):
            instance = _value(rng)
            if accepts(instance):
                passed += 1
                assert _valid(schema, instance), (schema, instance)
    assert passed > 1000, "the random cases should pass the quick check often too"


def test_the_builtin_types_defaults_pass_the_quick_check_where_it_applies() -> None:
    registry = discover(None)
    compiled = {name for name, t in registry.types.items() if accepting(t.schema) is not None}
    assert "shell" in compiled
    for name in compiled:
        calctype = registry.types[name]
        filled, _, problems = check_request(calctype, {"script": "true"} if name == "shell" else {}, [], None)
        if not [p for p in problems if p.field.startswith("inputs")]:
            accepts = accepting(calctype.schema)
            assert accepts is not None and accepts(filled), name


def test_a_shell_parameter_out_of_its_bounds_is_still_named() -> None:
    inputs = {"script": "echo {{ n }}", "parameters": {"n": {"type": "integer", "value": 0, "minimum": 1}}}
    assert Shell().check(inputs, []) == [
        ("inputs.parameters.n.value", "minimum", "0 is less than the minimum of 1")
    ]
    inputs["parameters"]["n"]["value"] = 1.0  # a whole float is an integer, as jsonschema says
    assert Shell().check(inputs, []) == []
