"""Pipeline parameters: ``${name}`` written in typed or as text, ``$${`` escapes, names found."""

from __future__ import annotations

from typing import Any

import pytest

from calchub.domain.pipelines import PipelineError, check_name, escape, references, substitute, used

PARAMETERS = {"n": 201, "upper": 3.141592653589793, "tag": "run", "ok": True, "grid": [1, 2]}


def test_a_whole_reference_takes_the_value_as_it_is_typed() -> None:
    assert substitute("${n}", PARAMETERS) == 201
    assert substitute("${upper}", PARAMETERS) == 3.141592653589793
    assert substitute("${ok}", PARAMETERS) is True
    assert substitute({"kwargs": {"n": "${n}", "grid": "${grid}"}}, PARAMETERS) == {
        "kwargs": {"n": 201, "grid": [1, 2]}
    }


def test_a_list_value_is_copied_not_shared() -> None:
    found = substitute("${grid}", PARAMETERS)
    found.append(3)
    assert PARAMETERS["grid"] == [1, 2]


def test_a_reference_inside_longer_text_is_replaced_by_its_text() -> None:
    assert substitute("n=${n}", PARAMETERS) == "n=201"
    assert substitute("${tag}-${n}.csv", PARAMETERS) == "run-201.csv"
    assert substitute("x${upper}", {"upper": 0.1}) == "x0.1"
    assert substitute("${grid}/${ok}", PARAMETERS) == "[1,2]/True"


def test_everything_else_is_left_as_it_is_in_a_new_value() -> None:
    value: dict[str, Any] = {"a": [1, 2.5, None, False, "text", "$ {n}", "$n"], "b": {}}
    found = substitute(value, PARAMETERS)
    assert found == value
    assert found is not value and found["a"] is not value["a"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$${n}", "${n}"),
        ("echo $${HOME} ${n}", "echo ${HOME} 201"),
        ("$$${n}", "$${n}"),
        ("cost: $$5", "cost: $$5"),
    ],
)
def test_a_doubled_dollar_before_a_brace_is_a_literal_dollar_brace(text: str, expected: str) -> None:
    assert substitute(text, PARAMETERS) == expected


@pytest.mark.parametrize("text", ["${", "a ${HOME} b $${x} $$${y}", "$${", "$$$${", "plain", "${}", "{$}"])
def test_escaped_text_comes_back_unchanged(text: str) -> None:
    assert substitute(escape(text), {}) == text
    assert used(escape(text)) == set()


def test_an_unknown_name_is_refused_with_the_path_to_its_value() -> None:
    with pytest.raises(PipelineError) as refused:
        substitute({"kwargs": {"points": [1, "${m}"]}}, PARAMETERS, "steps.fit.inputs")
    assert refused.value.where == "steps.fit.inputs.kwargs.points[1]"
    assert refused.value.message == "no parameter named 'm'; the parameters are: grid, n, ok, tag, upper"
    assert str(refused.value).startswith("steps.fit.inputs.kwargs.points[1]: no parameter named 'm'")
    with pytest.raises(PipelineError, match="there are none"):
        substitute(["${n}"], {})


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("${n", "is not closed"),
        ("a ${ b", "is not closed"),
        ("${two words}", "is not a parameter name"),
        ("${}", "is not a parameter name"),
        ("${1st}", "is not a parameter name"),
    ],
)
def test_a_malformed_reference_is_refused_saying_what_to_write(text: str, said: str) -> None:
    with pytest.raises(PipelineError, match=said) as refused:
        substitute({"command": ["echo", text]}, PARAMETERS)
    assert refused.value.where == "command[1]"
    with pytest.raises(PipelineError, match=said):
        used({"command": ["echo", text]})


def test_used_names_every_parameter_referred_to_anywhere() -> None:
    value = {
        "name": "fit ${tag}",
        "inputs": {"kwargs": {"n": "${n}", "grid": ["${grid}", "$${not_me}"]}, "n_again": "${n}"},
        "env": {"N": "${n}"},
        "count": 3,
    }
    assert used(value) == {"tag", "n", "grid"}
    assert used("no references") == set()
    assert list(references(value, "steps.fit")) == [
        ("tag", "steps.fit.name"),
        ("n", "steps.fit.inputs.kwargs.n"),
        ("grid", "steps.fit.inputs.kwargs.grid[0]"),
        ("n", "steps.fit.inputs.n_again"),
        ("n", "steps.fit.env.N"),
    ]


def test_a_parameter_name_is_checked() -> None:
    assert check_name("max_steps-2") == "max_steps-2"
    with pytest.raises(PipelineError, match="not a parameter name") as refused:
        check_name("a.b", "parameters.a.b")
    assert refused.value.where == "parameters.a.b"
