"""The pure parts of the study pages: depths of a graph, where its boxes and arrows go, the bars
of counts by state, and a plot of one result against one parameter."""

from __future__ import annotations

import pytest

from calchub.domain.states import State
from calchub.server.services.errors import Invalid
from calchub.server.services.study_views import Column, Graph, GraphNode, Row, Table, Value, depths, plot
from calchub.server.web.study_drawing import BOX_WIDTH, COLUMN_GAP, MARGIN, layout, progress, segments, tone


def test_a_nodes_depth_is_one_more_than_its_deepest_parent_and_unknown_parents_are_left_out() -> None:
    parents = {"a": [], "b": ["a"], "c": ["a", "b"], "d": ["outside"]}
    assert depths(parents) == {"a": 0, "b": 1, "c": 2, "d": 0}


def _node(key: str, depth: int, **counts: int) -> GraphNode:
    return GraphNode(key, key, "python", {State(s): n for s, n in counts.items()}, depth)


def test_boxes_go_in_columns_by_depth_centred_on_the_tallest_with_an_arrow_per_link() -> None:
    graph = Graph(
        "steps",
        [_node("a", 0, completed=2), _node("b", 1, running=1, queued=1), _node("c", 1, waiting=2)],
        [("a", "b"), ("a", "c")],
    )
    drawn = layout(graph)
    where = {b.node.key: (b.x, b.y) for b in drawn.boxes}
    column = BOX_WIDTH + COLUMN_GAP
    assert where["b"][0] == where["c"][0] == MARGIN + column and where["a"][0] == MARGIN
    assert where["b"][1] < where["a"][1] < where["c"][1], "a sits between its two children"
    assert [(a.source, a.target) for a in drawn.arrows] == [("a", "b"), ("a", "c")]
    assert drawn.width == 2 * MARGIN + 2 * BOX_WIDTH + COLUMN_GAP
    assert [(b.node.key, b.tone, b.summary) for b in drawn.boxes] == [
        ("a", "completed", "2/2 completed"),
        ("b", "running", "0/2 completed"),
        ("c", "waiting", "0/2 completed"),
    ]


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, "empty"),
        ({State.COMPLETED: 3}, "completed"),
        ({State.COMPLETED: 1, State.FAILED: 1, State.RUNNING: 1}, "failed"),
        ({State.COMPLETED: 1, State.QUEUED: 1}, "waiting"),
        ({State.COMPLETED: 1, State.SKIPPED: 1}, "ended"),
    ],
)
def test_a_boxs_tone_says_how_its_calculations_stand(counts: dict[State, int], expected: str) -> None:
    assert tone(counts) == expected


def test_a_bar_is_cut_by_state_furthest_along_first_and_says_itself() -> None:
    counts = {State.WAITING: 1, State.COMPLETED: 2, State.RUNNING: 1}
    assert [(s.state, s.x, s.width) for s in segments(counts, 100)] == [
        ("completed", 0, 50),
        ("running", 50, 25),
        ("waiting", 75, 25),
    ]
    shown = progress(counts)
    assert (shown.total, shown.finished) == (4, 2)
    assert shown.label == "2 of 4 finished: 2 completed, 1 running, 1 waiting"
    assert progress({}).label == "no calculations yet"


def _table() -> Table:
    def row(i: int, step: str, n: object, value: object) -> Row:
        scalar = None if value is None else Value(value, 0.1)
        return Row(i, f"r{i}", step, State.COMPLETED, [n], [scalar])

    rows = [
        row(1, "table@0", 21, None),
        row(2, "fit@0", 21, 2.5),
        row(3, "fit@1", 3, 1.5),
        row(4, "fit@2", 11, "not a number"),
        row(5, "other@0", 7, 0.5),
    ]
    return Table(["n"], [Column("y", "eV", 4)], rows)


def test_a_plot_has_a_trace_per_step_with_the_result_its_numbers_in_the_order_of_x() -> None:
    drawn = plot(_table(), "n", "y")
    assert [(t.name, t.points) for t in drawn.traces] == [
        ("fit", [(3, 1.5, 0.1), (21, 2.5, 0.1)]),
        ("other", [(7, 0.5, 0.1)]),
    ]
    assert drawn.count == 3
    assert drawn.spec["layout"]["yaxis"]["title"]["text"] == "y [eV]" and drawn.spec["layout"]["showlegend"]
    assert drawn.spec["data"][0]["error_y"]["array"] == [0.1, 0.1]
    with pytest.raises(Invalid, match="'m' is not a parameter of this study \\(its parameters: n\\)"):
        plot(_table(), "m", "y")
    with pytest.raises(Invalid, match="'z' is not a result of this study \\(its results: y\\)"):
        plot(_table(), "n", "z")
