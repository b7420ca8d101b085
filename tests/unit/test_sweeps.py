"""Sweeps' parameter spaces: axes, their product, points written into a template, and refusals."""

from __future__ import annotations

import pytest

from calchub.domain.sweeps import (
    MAX_POINTS,
    SweepError,
    inputs_at,
    points,
    points_axis,
    range_axis,
    size,
    values_axis,
    zip_axis,
)


def test_a_product_of_two_lists_gives_every_pair_the_last_axis_fastest() -> None:
    axes = [values_axis("voltage", [0.1, 0.2]), values_axis("solvent", ["water", "ethanol", "dmso"])]
    assert size(axes) == 6
    assert list(points(axes)) == [
        {"voltage": v, "solvent": s} for v in (0.1, 0.2) for s in ("water", "ethanol", "dmso")
    ]


def test_ranges_by_step_leave_the_stop_out_and_by_number_take_it_in_without_drift() -> None:
    assert range_axis("t", 0, 1, step=0.1).steps == tuple((round(i / 10, 1),) for i in range(10))
    assert range_axis("n", 1, 4, step=1).steps == ((1,), (2,), (3,))
    assert range_axis("down", 1, 0, step=-0.25).steps == ((1,), (0.75,), (0.5,), (0.25,))
    assert range_axis("x", 0, 1, num=5).steps == ((0,), (0.25,), (0.5,), (0.75,), (1,))
    assert range_axis("x", 0.1, 0.3, num=3).steps == ((0.1,), (0.2,), (0.3,))
    assert range_axis("one", 7, 9, num=1).steps == ((7,),)


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda: range_axis("t", 0, 1), "either a step or a number of values"),
        (lambda: range_axis("t", 0, 1, step=0.5, num=3), "either a step or a number of values"),
        (lambda: range_axis("t", 0, 1, step=0), "never goes from 0 to 1"),
        (lambda: range_axis("t", 0, 1, step=-1), "never goes from 0 to 1"),
        (lambda: range_axis("t", 1, 1, step=1), "is empty"),
        (lambda: range_axis("t", 0, float("inf"), step=1), "finite numbers"),
        (lambda: range_axis("t", 0, 1e9, step=1), f"more than the {MAX_POINTS}"),
        (lambda: range_axis("t", 0, 1, num=0), "at least 1"),
        (lambda: values_axis("t", []), "at least one value"),
        (lambda: values_axis("bad name", [1]), "is not an input name"),
        (lambda: values_axis("a..b", [1]), "is not an input name"),
        (lambda: zip_axis({"a": [1, 2], "b": [1]}), "a has 2, b has 1"),
        (lambda: zip_axis({}), "at least one input"),
        (lambda: zip_axis({"a": []}), "are empty"),
        (lambda: points_axis([]), "at least one point"),
        (lambda: points_axis([{"a": 1}, {"b": 2}]), "point 2 sets ['b'], the first sets ['a']"),
    ],
)
def test_an_axis_that_cannot_be_is_refused_saying_what_to_fix(make: object, said: str) -> None:
    with pytest.raises(SweepError, match=None) as refused:
        make()  # type: ignore[operator]
    assert said in refused.value.message


def test_zipped_inputs_step_together_and_explicit_points_are_one_axis() -> None:
    axes = [zip_axis({"a": [1, 2], "b": ["x", "y"]}), values_axis("c", [True, False])]
    assert list(points(axes)) == [
        {"a": 1, "b": "x", "c": True},
        {"a": 1, "b": "x", "c": False},
        {"a": 2, "b": "y", "c": True},
        {"a": 2, "b": "y", "c": False},
    ]
    explicit = points_axis([{"t": 300, "p": 1.0}, {"t": 350, "p": 2.0}])
    assert list(points([explicit])) == [{"t": 300, "p": 1.0}, {"t": 350, "p": 2.0}]


def test_a_space_that_sets_an_input_twice_or_is_too_large_is_refused_before_any_point_is_made() -> None:
    with pytest.raises(SweepError, match="voltage is set by axes 1 and 2"):
        size([values_axis("voltage", [1]), zip_axis({"voltage": [2], "x": [3]})])
    with pytest.raises(SweepError, match=r"options\.fit and options overlap"):
        size([values_axis("options", [{}]), values_axis("options.fit", ["lm"])])
    wide = [values_axis(f"x{n}", list(range(20))) for n in range(5)]  # 3,200,000 points
    with pytest.raises(SweepError, match=f"3200000 points, more than the {MAX_POINTS}"):
        size(wide)
    with pytest.raises(SweepError, match="at least one axis"):
        size([])


def test_a_point_is_written_into_a_copy_of_the_template_through_dotted_names() -> None:
    template = {"fit": "lm", "options": {"steps": 100, "burn": 10}, "model": "line"}
    written = inputs_at(template, {"fit": "dream", "options.steps": 500, "options.extra.seed": 7})
    assert written == {
        "fit": "dream",
        "options": {"steps": 500, "burn": 10, "extra": {"seed": 7}},
        "model": "line",
    }
    assert template["options"] == {"steps": 100, "burn": 10}, "the template is left as it was"
    with pytest.raises(SweepError, match="model is 'line' in the template, not an object"):
        inputs_at(template, {"model.kind": "x"})


def test_a_point_copies_only_the_objects_on_the_way_to_its_values() -> None:
    template = {"parameters": {"a": {"value": 0}, "b": {"value": 0}, "c": {"value": 0}}, "script": {"x": 1}}
    written = inputs_at(template, {"parameters.a.value": 1, "parameters.b.value": 2})
    assert written["parameters"] == {"a": {"value": 1}, "b": {"value": 2}, "c": {"value": 0}}
    assert template["parameters"] == {"a": {"value": 0}, "b": {"value": 0}, "c": {"value": 0}}
    assert written["parameters"]["c"] is template["parameters"]["c"], "what a point leaves is shared"
    assert written["script"] is template["script"]
    assert inputs_at(template, {"parameters.a.value": 5})["parameters"]["b"] == {"value": 0}
