"""A study's graph and progress as SVG, laid out on the server (pure functions, no I/O).

The graph is boxes in columns by depth (a node's column is the longest way to it from a node
that waits for nothing), in each column in the order given, with an arrow from each parent to
its child. Each box carries its name, what it is, a line of its calculations' counts and a bar
of them by state; its tone (the colour of its edge) says how its calculations stand. The
template ``partials/study_graph.html`` draws what :func:`layout` works out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from calchub.domain.states import HELD, TERMINAL, State
from calchub.server.services.study_views import Graph, GraphNode

BOX_WIDTH = 190
BOX_HEIGHT = 64
COLUMN_GAP = 64
ROW_GAP = 18
MARGIN = 8
#: The bar inside a box: its inset from the box's sides and its height.
BAR_INSET = 10
BAR_HEIGHT = 7
#: The longest name or detail a box shows whole (its title has it all).
LABEL_CHARS = 24
#: The order states are counted and drawn in: the furthest along first.
ORDER = [
    State.COMPLETED,
    State.FAILED,
    State.INVALID,
    State.LOST,
    State.REJECTED,
    State.CANCELLED,
    State.SKIPPED,
    State.POSTPROCESSING,
    State.RUNNING,
    State.SUBMITTED,
    State.CLAIMED,
    State.QUEUED,
    State.PENDING_APPROVAL,
    State.WAITING,
    State.DRAFT,
]
BAD = frozenset({State.FAILED, State.INVALID, State.LOST, State.REJECTED})


@dataclass(frozen=True)
class Segment:
    """One state's share of a bar, in the bar's own units (its width is ``width``)."""

    state: str
    x: float
    width: float
    count: int


@dataclass(frozen=True)
class Box:
    node: GraphNode
    x: float
    y: float
    label: str
    detail: str
    summary: str
    #: What its edge's colour says: completed, failed, running, waiting, ended or empty.
    tone: str
    segments: list[Segment]
    #: Every count, for its title (the tooltip) and the graph's text alternative.
    said: str


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str
    path: str


@dataclass(frozen=True)
class Drawing:
    width: float
    height: float
    boxes: list[Box]
    arrows: list[Arrow]
    bar_width: float = BOX_WIDTH - 2 * BAR_INSET


def ordered(counts: Mapping[State, int]) -> list[tuple[State, int]]:
    """The states with calculations, in ``ORDER``."""
    return [(s, counts[s]) for s in ORDER if counts.get(s)]


def said(counts: Mapping[State, int]) -> str:
    """ "2 completed, 1 running"; "none" for no calculation."""
    return ", ".join(f"{n} {s.value.replace('_', ' ')}" for s, n in ordered(counts)) or "none"


def segments(counts: Mapping[State, int], width: float) -> list[Segment]:
    """A bar of ``width`` cut by state, each state's share as wide as its count is large."""
    total = sum(counts.values())
    found, x = [], 0.0
    for state, n in ordered(counts):
        share = width * n / total
        found.append(Segment(state.value, round(x, 2), round(share, 2), n))
        x += share
    return found


def tone(counts: Mapping[State, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "empty"
    if any(counts.get(s) for s in BAD):
        return "failed"
    if counts.get(State.COMPLETED, 0) == total:
        return "completed"
    if any(counts.get(s) for s in HELD):
        return "running"
    if all(s in TERMINAL for s, n in counts.items() if n):
        return "ended"
    return "waiting"


def short(text: str, most: int = LABEL_CHARS) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def layout(graph: Graph) -> Drawing:
    """Where each box and arrow goes; each column centred on the tallest."""
    columns: dict[int, list[GraphNode]] = {}
    for node in graph.nodes:
        columns.setdefault(node.depth, []).append(node)
    tallest = max((len(c) for c in columns.values()), default=0)
    step_y = BOX_HEIGHT + ROW_GAP
    boxes: dict[str, Box] = {}
    for depth, nodes in sorted(columns.items()):
        x = MARGIN + depth * (BOX_WIDTH + COLUMN_GAP)
        top = MARGIN + (tallest - len(nodes)) * step_y / 2
        for row, node in enumerate(nodes):
            boxes[node.key] = _box(node, x, top + row * step_y)
    arrows = [_arrow(boxes[a], boxes[b]) for a, b in graph.edges if a in boxes and b in boxes]
    width = 2 * MARGIN + len(columns) * BOX_WIDTH + max(len(columns) - 1, 0) * COLUMN_GAP
    height = 2 * MARGIN + tallest * BOX_HEIGHT + max(tallest - 1, 0) * ROW_GAP
    return Drawing(width, height, list(boxes.values()), arrows)


def _box(node: GraphNode, x: float, y: float) -> Box:
    total = sum(node.counts.values())
    if node.calc_id is not None:
        summary = next(iter(node.counts)).value.replace("_", " ") if node.counts else ""
    else:
        done = node.counts.get(State.COMPLETED, 0)
        summary = f"{done}/{total} completed" if total else "no calculations"
    return Box(
        node=node,
        x=x,
        y=y,
        label=short(node.label),
        detail=short(node.detail),
        summary=summary,
        tone=tone(node.counts),
        segments=segments(node.counts, BOX_WIDTH - 2 * BAR_INSET) if total else [],
        said=said(node.counts),
    )


def _arrow(parent: Box, child: Box) -> Arrow:
    """A curve from the middle of the parent's right side to the middle of the child's left."""
    x1, y1 = parent.x + BOX_WIDTH, parent.y + BOX_HEIGHT / 2
    x2, y2 = child.x - 2, child.y + BOX_HEIGHT / 2
    bend = (x2 - x1) / 2
    path = f"M{x1:g},{y1:g} C{x1 + bend:g},{y1:g} {x2 - bend:g},{y2:g} {x2:g},{y2:g}"
    return Arrow(parent.node.key, child.node.key, path)


@dataclass(frozen=True)
class Progress:
    """A study's calculations counted by state, and a bar of them 100 units wide."""

    total: int
    finished: int
    counts: list[tuple[State, int]]
    segments: list[Segment]
    #: "3 of 6 finished: 2 completed, 1 failed, 3 running", the bar's text alternative.
    label: str


def progress(counts: Mapping[State, int]) -> Progress:
    total = sum(counts.values())
    finished = sum(n for s, n in counts.items() if s in TERMINAL)
    label = f"{finished} of {total} finished: {said(counts)}" if total else "no calculations yet"
    return Progress(total, finished, ordered(counts), segments(counts, 100) if total else [], label)
