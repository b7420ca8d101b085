"""What calchub tells people by email, rendered from plain facts. Pure: no I/O.

The sender gathers the facts (:class:`CalculationFacts`, :class:`StudyFacts`,
:class:`ModelFacts`) and hands them here; each function returns a :class:`Message`: a subject,
a plain-text body and an HTML body, rendered from the Jinja2 templates in ``templates/`` (HTML
autoescaped, CSS inline, no images, no link but the calculation's, the study's or the model's
own page).

Whatever users wrote (names, messages, logs) is escaped in the HTML and stripped of control
characters; in a subject it is folded onto one line and shortened, and the subject is capped
at :data:`SUBJECT_LIMIT` characters, so nothing a user writes can add a header.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2

from calchub.domain.states import State

__all__ = [
    "CalculationFacts",
    "Message",
    "ModelFacts",
    "StudyFacts",
    "about_calculation",
    "about_model",
    "about_study",
    "digest",
    "log_tail",
    "one_line",
    "spoken_duration",
    "spoken_window",
]

SUBJECT_LIMIT = 150
#: The end of a log shown: at most this many lines and characters.
LOG_LINES = 20
LOG_CHARS = 4096
#: Results shown in a table, and calculations listed in a study's summary or a digest.
RESULTS_SHOWN = 20
LISTED = 50
#: A reason in a list is its first line, cut at this length; a reason shown alone at the second.
REASON_CHARS = 200
MESSAGE_CHARS = 2000

#: Results as (name, value, unit).
Results = tuple[tuple[str, object, str], ...]

#: Finished states that went wrong: their message is the reason, shown as such.
TROUBLE = frozenset({State.FAILED, State.INVALID, State.LOST, State.CANCELLED, State.SKIPPED, State.REJECTED})
_BAD = frozenset({State.FAILED, State.INVALID, State.LOST, State.REJECTED})
_SAID: dict[str, str] = {
    State.COMPLETED: "completed",
    State.FAILED: "failed",
    State.RUNNING: "is running",
    State.POSTPROCESSING: "is post-processing",
    State.PENDING_APPROVAL: "awaits approval",
    State.DRAFT: "is a draft",
    State.QUEUED: "is queued",
    State.WAITING: "is waiting",
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class CalculationFacts:
    """One calculation as a message tells of it; ``url`` is its page, ``log_tail`` the end of its log."""

    id: int
    name: str
    state: str
    project: str
    cluster: str
    owner: str
    url: str
    study: str | None = None
    attempt: int = 1
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str | None = None
    log_tail: str = ""
    results: Results = ()

    @property
    def duration(self) -> str | None:
        """How long it ran, as "2 min 5 s"; None unless it both started and finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return spoken_duration((self.finished_at - self.started_at).total_seconds())


@dataclass(frozen=True)
class StudyFacts:
    """A finished study: its counts by state and its unsuccessful calculations.

    ``failures`` may be the first few only: the counts say how many there are.
    """

    id: int
    name: str
    project: str
    owner: str
    url: str
    total: int
    counts: Mapping[str, int]
    failures: tuple[CalculationFacts, ...] = ()
    results: Results = ()


@dataclass(frozen=True)
class ModelFacts:
    """A served model version as a notice of it tells it: ``state`` is the one the notice tells
    of, ``message`` why, ``url`` the model's page, ``log_tail`` the end of its log."""

    id: int
    name: str
    version: str
    project: str
    owner: str
    runtime: str
    state: str
    url: str
    restarts: int = 0
    host: str | None = None
    message: str | None = None
    log_tail: str = ""


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def about_calculation(facts: CalculationFacts) -> Message:
    """What happened to one calculation: its facts, the reason and log end if it went wrong, results."""
    said = _said(facts.state)
    log, log_cut = log_tail(facts.log_tail)
    return _render(
        "calculation",
        _subject(f"calchub: calculation {facts.id} ", facts.name, f" {said}"),
        heading=f'Calculation {facts.id} "{one_line(facts.name)}" {said}',
        tone=_tone(facts.state),
        state=facts.state,
        fields=_fields(facts),
        reason_label="Reason" if facts.state in TROUBLE else "Message",
        reason=_paragraph(facts.message or ""),
        log=log,
        log_cut=log_cut,
        results=_results(facts.results),
        more_results=max(0, len(facts.results) - RESULTS_SHOWN),
        url=facts.url,
        link=_linkable(facts.url),
    )


def about_study(facts: StudyFacts) -> Message:
    """A study's summary once it finished: counts by state, the failures listed, its results."""
    summary = _study_summary(facts)
    unsuccessful = sum(n for state, n in facts.counts.items() if state in TROUBLE)
    listed = facts.failures[:LISTED]
    return _render(
        "study",
        _subject("calchub: study ", facts.name, f" finished: {summary}"),
        heading=f'Study "{one_line(facts.name)}" finished: {summary}',
        tone="bad"
        if any(facts.counts.get(s) for s in _BAD)
        else "good"
        if summary.startswith("all")
        else "quiet",
        fields=[("Project", one_line(facts.project)), ("Owner", one_line(facts.owner))],
        total=facts.total,
        counts=_ordered_counts(facts.counts),
        failures=[_row(each) for each in listed],
        more_failures=max(unsuccessful, len(facts.failures)) - len(listed),
        results=_results(facts.results),
        more_results=max(0, len(facts.results) - RESULTS_SHOWN),
        url=facts.url,
        link=_linkable(facts.url),
    )


def about_model(facts: ModelFacts) -> Message:
    """What happened to a served model version: its facts, the reason, the end of its log."""
    said = _said(facts.state)
    name, version = _shorten(one_line(facts.name), 64), _shorten(one_line(facts.version), 40)
    log, log_cut = log_tail(facts.log_tail)
    fields = [
        ("Name", one_line(facts.name)),
        ("Version", one_line(facts.version)),
        ("State", one_line(facts.state)),
        ("Project", one_line(facts.project)),
        ("Owner", one_line(facts.owner)),
        ("Runtime", one_line(facts.runtime)),
        ("Host", one_line(facts.host or "")),
        ("Restarts", str(facts.restarts)),
    ]
    return _render(
        "model",
        _subject("calchub: model ", "", f"{name} {version} {said}"),
        heading=f"Model {name} version {version} {said}",
        tone=_tone(facts.state),
        fields=[(label, value) for label, value in fields if value],
        reason=_paragraph(facts.message or ""),
        log=log,
        log_cut=log_cut,
        url=facts.url,
        link=_linkable(facts.url),
    )


def digest(facts: Sequence[CalculationFacts], window_minutes: float) -> Message:
    """Several calculations that went wrong within a few minutes, gathered into one message."""
    if not facts:
        raise ValueError("a digest tells of at least one calculation")
    states = sorted({each.state for each in facts}, key=_state_order)
    count = f"{len(facts)} calculation{'s' if len(facts) > 1 else ''}"
    verbs = " or ".join(_verb(state, len(facts) > 1) for state in states)
    summary = f"{count} {verbs} in the last {spoken_window(window_minutes)}"
    listed = facts[:LISTED]
    return _render(
        "digest",
        _subject("calchub: ", "", summary),
        heading=summary[0].upper() + summary[1:],
        rows=[_row(each) for each in listed],
        more=len(facts) - len(listed),
    )


def one_line(text: str) -> str:
    """``text`` without control or format characters, its whitespace (line breaks too) one space."""
    return " ".join("".join(c for c in text if c.isprintable() or c.isspace()).split())


def log_tail(log: str) -> tuple[str, bool]:
    """The last lines of ``log`` (``LOG_LINES``, ``LOG_CHARS``) as a terminal would show them, and
    whether anything before them was left out. Escape sequences and control characters go; a line
    redrawn with carriage returns shows its last state."""
    lines = [_ANSI.sub("", line.rstrip("\r").rsplit("\r", 1)[-1]) for line in log.split("\n")]
    lines = [_CONTROL.sub("", line).rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    text = "\n".join(lines[-LOG_LINES:])
    cut = len(lines) > LOG_LINES
    if len(text) > LOG_CHARS:
        text, cut = text[-LOG_CHARS:], True
        if "\n" in text:
            text = text.split("\n", 1)[1]
    return text, cut


def spoken_duration(seconds: float) -> str:
    """``seconds`` as people say it, to two units at most: "45 s", "2 min 5 s", "3 h 10 min", "2 d 4 h"."""
    whole = max(0, round(seconds))
    if whole < 1:
        return "less than 1 s"
    for size, unit, smaller, small_unit in (
        (86400, "d", 3600, "h"),
        (3600, "h", 60, "min"),
        (60, "min", 1, "s"),
    ):
        if whole >= size:
            rest = (whole % size) // smaller
            return f"{whole // size} {unit}" + (f" {rest} {small_unit}" if rest else "")
    return f"{whole} s"


def spoken_window(minutes: float) -> str:
    """A digest's window: "30 seconds", "1 minute", "5 minutes", "2 hours"."""
    seconds = round(minutes * 60)
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    amount = f"{seconds / 60:.1f}".removesuffix(".0")
    return f"{amount} minute{'s' if amount != '1' else ''}"


def _render(template: str, subject: str, **context: Any) -> Message:
    environment = _environment()
    context["subject"] = subject
    text = environment.get_template(f"{template}.txt").render(context)
    html = environment.get_template(f"{template}.html").render(context)
    return Message(subject, text, html)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("calchub.server.notify", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _subject(head: str, name: str, tail: str) -> str:
    """``head``, the quoted ``name`` shortened to fit, then ``tail``: one line, at most ``SUBJECT_LIMIT``."""
    if name:
        room = max(8, SUBJECT_LIMIT - len(head) - len(tail) - 2)
        name = f'"{_shorten(one_line(name), room)}"'
    return _shorten(one_line(head + name + tail), SUBJECT_LIMIT)


def _shorten(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _said(state: str) -> str:
    return _SAID.get(state, f"was {state}" if state in TROUBLE else f"is {state}")


def _verb(state: str, many: bool) -> str:
    if state in (State.FAILED, State.COMPLETED):
        return state
    return f"{'were' if many else 'was'} {state}"


def _tone(state: str) -> str:
    if state == State.COMPLETED:
        return "good"
    return "bad" if state in _BAD else "quiet"


def _state_order(state: str) -> int:
    names = list(State)
    return names.index(State(state)) if state in names else len(names)


def _fields(facts: CalculationFacts) -> list[tuple[str, str]]:
    fields = [
        ("Name", one_line(facts.name)),
        ("State", facts.state),
        ("Project", one_line(facts.project)),
        ("Study", one_line(facts.study or "")),
        ("Cluster", one_line(facts.cluster)),
        ("Owner", one_line(facts.owner)),
        ("Attempt", str(facts.attempt)),
        ("Duration", facts.duration or ""),
        ("Finished", _when(facts.finished_at)),
    ]
    return [(label, value) for label, value in fields if value]


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    in_utc = moment.astimezone(UTC) if moment.tzinfo else moment
    return in_utc.strftime("%Y-%m-%d %H:%M UTC")


def _paragraph(text: str) -> str:
    """A multi-line text a user or a program wrote: no control characters, at most ``MESSAGE_CHARS``."""
    lines = [_CONTROL.sub("", line).rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _shorten("\n".join(lines).strip("\n"), MESSAGE_CHARS)


def _results(results: Results) -> list[tuple[str, str, str]]:
    return [(one_line(name), _value(value), one_line(unit)) for name, value, unit in results[:RESULTS_SHOWN]]


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, ".6g")
    return _shorten(one_line(str(value)), 80)


def _row(facts: CalculationFacts) -> dict[str, Any]:
    """One calculation as a line of a list: who it is, what became of it, why, and where to look."""
    first_line = next((line for line in (facts.message or "").splitlines() if line.strip()), "")
    return {
        "id": facts.id,
        "name": one_line(facts.name),
        "state": facts.state,
        "tone": _tone(facts.state),
        "cluster": one_line(facts.cluster),
        "project": one_line(facts.project),
        "reason": _shorten(one_line(first_line), REASON_CHARS),
        "url": facts.url,
        "link": _linkable(facts.url),
    }


def _ordered_counts(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Non-zero counts, completed first, then the troubles, then what has not ended, in state order."""

    def rank(state: str) -> tuple[int, int]:
        group = 0 if state == State.COMPLETED else 1 if state in TROUBLE else 2
        return group, _state_order(state)

    return [(state, counts[state]) for state in sorted(counts, key=rank) if counts[state]]


def _study_summary(facts: StudyFacts) -> str:
    if facts.total and facts.counts.get(State.COMPLETED, 0) == facts.total:
        return f"all {facts.total} completed"
    parts = [f"{n} {state}" for state, n in _ordered_counts(facts.counts)]
    return ", ".join(parts) or "nothing ran"


def _linkable(url: str) -> bool:
    """Only a web address is made a link; anything else is shown as text."""
    return url.startswith(("https://", "http://"))
