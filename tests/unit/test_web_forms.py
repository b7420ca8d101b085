"""A type's input schema as form fields, and a posted form back as the type's inputs."""

from __future__ import annotations

from calchub.server.web.forms import fields, inputs

SCHEMA = {
    "type": "object",
    "required": ["temperature"],
    "properties": {
        "temperature": {"type": "number", "minimum": 0, "description": "reduced units"},
        "steps": {"type": "integer", "default": 1000},
        "fit": {"enum": ["lm", "dream"], "default": "lm"},
        "flush": {"type": "boolean", "default": False},
        "options": {"type": "object", "default": {}},
        "box": {"type": "object", "properties": {"size": {"type": "integer", "title": "Box size"}}},
        "label": {"type": ["string", "null"]},
        "expect": {"type": "array", "default": []},
    },
}


def test_each_property_is_a_field_of_the_right_kind_with_its_help_and_limits() -> None:
    found = {f.name: f for f in fields(SCHEMA)}
    assert [(n, f.kind) for n, f in found.items()] == [
        ("temperature", "number"),
        ("steps", "integer"),
        ("fit", "choice"),
        ("flush", "boolean"),
        ("options", "json"),
        ("box.size", "integer"),
        ("label", "text"),
        ("expect", "json"),
    ]
    assert (found["expect"].shown, found["options"].shown, found["label"].shown) == ("[]", "{}", "")
    assert (found["temperature"].required, found["temperature"].minimum) == (True, 0)
    assert found["temperature"].help == "reduced units"
    assert found["steps"].required is False and found["steps"].default == 1000
    assert found["fit"].choices == ["lm", "dream"]
    assert (found["box.size"].label, found["box.size"].html_id) == ("Box size", "in-box-size")


def test_a_form_gives_only_what_was_filled_in_parsed_by_kind() -> None:
    form = {
        "inputs.temperature": " 1.5 ",
        "inputs.steps": "",
        "inputs.fit": "dream",
        "inputs.flush": "on",
        "inputs.options": '{"samples": 100}',
        "inputs.box.size": "8",
        "inputs.expect": '["out.txt"]',
    }
    assert inputs(SCHEMA, form) == {
        "temperature": 1.5,
        "fit": "dream",
        "flush": True,
        "options": {"samples": 100},
        "box": {"size": 8},
        "expect": ["out.txt"],
    }


def test_what_does_not_parse_is_left_for_the_types_own_check_to_name() -> None:
    assert inputs(SCHEMA, {"inputs.temperature": "hot", "inputs.options": "{"}) == {
        "temperature": "hot",
        "options": "{",
        "flush": False,
    }
