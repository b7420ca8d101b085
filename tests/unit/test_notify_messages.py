"""Email messages rendered from facts: subjects, bodies, escaping, trimming, study summaries, digests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from calchub.domain.states import State
from calchub.server.notify.messages import (
    LISTED,
    LOG_CHARS,
    LOG_LINES,
    RESULTS_SHOWN,
    SUBJECT_LIMIT,
    CalculationFacts,
    Message,
    ModelFacts,
    StudyFacts,
    about_calculation,
    about_model,
    about_study,
    digest,
    log_tail,
    spoken_duration,
    spoken_window,
)

URL = "https://calc.example.org/calculations/12"
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _calc(**changes: object) -> CalculationFacts:
    facts = CalculationFacts(
        id=12,
        name="relax 1.9",
        state="failed",
        project="materials",
        cluster="hpc",
        owner="alice",
        url=URL,
        study="voltages",
        attempt=2,
        started_at=START,
        finished_at=START + timedelta(seconds=125),
        message="exit code 1: segmentation fault",
        log_tail="step 1\nstep 2\nboom\n",
        results=(("energy", -12.345678912, "eV"), ("converged", True, "")),
    )
    return dataclasses.replace(facts, **changes)  # type: ignore[arg-type]


class _Tags(HTMLParser):
    """The tags of an HTML body with their attributes, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


@pytest.mark.parametrize(
    ("state", "said"),
    [
        ("completed", "completed"),
        ("failed", "failed"),
        ("running", "is running"),
        ("lost", "was lost"),
        ("invalid", "was invalid"),
        ("cancelled", "was cancelled"),
        ("queued", "is queued"),
        ("pending_approval", "awaits approval"),
    ],
)
def test_the_subject_says_what_happened_to_which_calculation(state: str, said: str) -> None:
    assert about_calculation(_calc(state=state)).subject == f'calchub: calculation 12 "relax 1.9" {said}'


@pytest.mark.parametrize("state", list(State))
def test_every_state_makes_a_message_with_a_one_line_subject(state: State) -> None:
    message = about_calculation(_calc(state=state.value))
    assert message.subject.startswith('calchub: calculation 12 "relax 1.9" ')
    assert "\n" not in message.subject and len(message.subject) <= SUBJECT_LIMIT


def test_both_bodies_carry_the_facts_the_reason_the_log_and_the_link() -> None:
    message = about_calculation(_calc())
    for body in (message.text, message.html):
        for fact in ("relax 1.9", "failed", "materials", "voltages", "hpc", "alice", "2 min 5 s", URL):
            assert fact in body, fact
        assert "Reason" in body and "exit code 1: segmentation fault" in body
        assert "boom" in body and "-12.3457" in body and "eV" in body
    assert "Attempt:  2" in message.text
    assert "2024-05-01 12:02 UTC" in message.text


def test_a_completed_calculation_shows_no_reason_label_and_a_running_one_no_duration() -> None:
    done = about_calculation(_calc(state="completed", message=None, log_tail=""))
    assert "Reason" not in done.text and "log" not in done.text
    running = about_calculation(_calc(state="running", finished_at=None, message=None))
    assert "Duration" not in running.text and "Duration" not in running.html


@pytest.mark.parametrize(
    ("seconds", "spoken"),
    [(0.2, "less than 1 s"), (45, "45 s"), (125, "2 min 5 s"), (120, "2 min"), (11400, "3 h 10 min")],
)
def test_a_duration_reads_as_people_say_it(seconds: float, spoken: str) -> None:
    assert spoken_duration(seconds) == spoken
    facts = _calc(finished_at=START + timedelta(seconds=seconds))
    assert facts.duration == spoken
    assert spoken_duration(2 * 86400 + 4 * 3600 + 59) == "2 d 4 h"


def test_no_duration_before_it_started_or_finished() -> None:
    assert _calc(started_at=None).duration is None
    assert _calc(finished_at=None).duration is None


def test_a_name_message_and_log_with_markup_are_escaped_in_the_html() -> None:
    facts = _calc(
        name='<script>alert("x")</script>',
        message="bad <b>input</b> & more",
        log_tail="</pre><img src=https://evil.example/x.png><script>steal()</script>\n",
    )
    message = about_calculation(facts)
    parsed = _Tags(message.html)
    assert {"script", "img", "b"}.isdisjoint(name for name, _ in parsed.tags)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in message.html
    assert "bad &lt;b&gt;input&lt;/b&gt; &amp; more" in message.html
    assert "</pre><img" not in message.html and "steal()" in "".join(parsed.text)
    assert '<script>alert("x")</script>' in message.text, "the plain text is not escaped"


def test_the_html_links_only_to_the_calculation_and_has_no_images_or_style_sheets() -> None:
    message = about_calculation(_calc())
    parsed = _Tags(message.html)
    assert {attrs["href"] for attrs in parsed.named("a")} == {URL}
    assert {"img", "link", "style", "script"}.isdisjoint(name for name, _ in parsed.tags)
    assert all(attrs.get("style") for attrs in parsed.named("table"))


def test_an_address_that_is_not_a_web_address_is_shown_but_not_linked() -> None:
    message = about_calculation(_calc(url="javascript:alert(1)"))
    assert _Tags(message.html).named("a") == []
    assert "javascript:alert(1)" in message.text


def test_line_breaks_in_a_name_never_reach_the_subject_as_line_breaks() -> None:
    message = about_calculation(_calc(name="relax\r\nBcc: victim@example.org\n\tX-Evil: 1\u2028end\x00"))
    assert message.subject == 'calchub: calculation 12 "relax Bcc: victim@example.org X-Evil: 1 end" failed'
    assert not any(c in message.subject for c in "\r\n\t\x00\u2028")


def test_a_long_name_is_shortened_so_the_subject_keeps_its_state_within_the_limit() -> None:
    message = about_calculation(_calc(name="x" * 1000))
    assert len(message.subject) <= SUBJECT_LIMIT
    assert message.subject.endswith('x…" failed')


def test_the_log_tail_keeps_the_last_lines_as_a_terminal_shows_them() -> None:
    log = "".join(f"line {i}\n" for i in range(100)) + "10%\r50%\r100%\n\x1b[31mred\x1b[0m\x07\n\n"
    tail, cut = log_tail(log)
    lines = tail.split("\n")
    assert cut and len(lines) == LOG_LINES
    assert lines[0] == "line 82" and lines[-2:] == ["100%", "red"]


def test_the_log_tail_is_capped_in_size_without_a_broken_first_line() -> None:
    tail, cut = log_tail("\n".join(f"{i:04d}" + "y" * 996 for i in range(10)))
    assert cut and len(tail) <= LOG_CHARS
    assert tail.startswith("0006") and tail.endswith("y"), "four whole lines of 1,001 characters fit"
    short, short_cut = log_tail("one\ntwo\n")
    assert (short, short_cut) == ("one\ntwo", False)


def test_the_log_is_a_preformatted_block_in_the_html_and_says_when_lines_were_left_out() -> None:
    message = about_calculation(_calc(log_tail="".join(f"line {i}\n" for i in range(30))))
    assert "<pre " in message.html and "line 29</pre>" in message.html
    assert "line 9\n" not in message.html
    assert "earlier lines left out" in message.text and "earlier lines left out" in message.html


def test_results_are_a_small_table_of_at_most_twenty() -> None:
    results = (*((f"r{i:02d}", i * 0.5, "V") for i in range(RESULTS_SHOWN + 5)), ("note", None, ""))
    message = about_calculation(_calc(state="completed", results=results))
    assert "r19" in message.text and "r20" not in message.text
    assert "and 6 more on its page" in message.text and "and 6 more on its page" in message.html
    assert "    r01  0.5 V" in message.text
    assert len(_Tags(message.html).named("tr")) >= RESULTS_SHOWN + 1


def _study(counts: dict[str, int], failures: int, total: int | None = None) -> StudyFacts:
    listed = tuple(
        _calc(id=100 + i, name=f"point {i}", url=f"https://calc.example.org/calculations/{100 + i}")
        for i in range(failures)
    )
    return StudyFacts(
        id=3,
        name="voltages",
        project="materials",
        owner="alice",
        url="https://calc.example.org/studies/3",
        total=sum(counts.values()) if total is None else total,
        counts=counts,
        failures=listed,
    )


def test_a_study_that_all_completed_says_so() -> None:
    message = about_study(_study({"completed": 1000}, 0))
    assert message.subject == 'calchub: study "voltages" finished: all 1000 completed'
    assert "did not complete" not in message.text


def test_a_study_summary_counts_by_state_and_lists_the_failures() -> None:
    message = about_study(_study({"failed": 1, "completed": 998, "lost": 1}, 2))
    assert message.subject == 'calchub: study "voltages" finished: 998 completed, 1 failed, 1 lost'
    assert "completed           998" in message.text
    for body in (message.text, message.html):
        assert "point 0" in body and "point 1" in body and "exit code 1" in body
        assert "https://calc.example.org/calculations/101" in body
        assert "more" not in body
    links = {attrs["href"] for attrs in _Tags(message.html).named("a")}
    assert "https://calc.example.org/studies/3" in links


def test_a_study_lists_at_most_fifty_failures_then_says_how_many_more() -> None:
    message = about_study(_study({"completed": 900, "failed": 100}, 60))
    assert "point 49" in message.text and "point 50" not in message.text
    assert "and 50 more." in message.text and "and 50 more." in message.html
    assert message.text.count("https://calc.example.org/calculations/") == LISTED


def test_a_digest_gathers_several_failures_into_one_message() -> None:
    calcs = [_calc(id=i, name=f"c{i}", url=f"https://h/calculations/{i}") for i in range(5)] + [
        _calc(id=i, name=f"c{i}", state="lost", message="lease lapsed", url=f"https://h/calculations/{i}")
        for i in range(5, 7)
    ]
    message = digest(calcs, window_minutes=5)
    assert message.subject == "calchub: 7 calculations failed or were lost in the last 5 minutes"
    rows = [line for line in message.text.splitlines() if line.startswith("  - ")]
    assert len(rows) == 7
    assert rows[6] == '  - 6 "c6" lost on hpc (materials): lease lapsed'
    assert "https://h/calculations/6" in message.text
    assert {attrs["href"] for attrs in _Tags(message.html).named("a")} == {
        f"https://h/calculations/{i}" for i in range(7)
    }


def test_a_digest_of_one_speaks_in_the_singular_and_none_is_refused() -> None:
    message = digest([_calc(state="lost")], window_minutes=0.5)
    assert message.subject == "calchub: 1 calculation was lost in the last 30 seconds"
    with pytest.raises(ValueError):
        digest([], 5)


MODEL_URL = "https://calc.example.org/models/lj-energy"
REASON = "the model's process exited with code 3; failed 5 times in a row, so it is left stopped"


def _model(**changes: object) -> ModelFacts:
    facts = ModelFacts(
        id=4,
        name="lj-energy",
        version="1",
        project="materials",
        owner="alice",
        runtime="process",
        state="failed",
        url=MODEL_URL,
        restarts=4,
        host="node7",
        message=REASON,
        log_tail="loading weights\nTraceback (most recent call last):\nValueError: bad density\n",
    )
    return dataclasses.replace(facts, **changes)  # type: ignore[arg-type]


def test_a_failed_model_says_which_version_failed_why_and_how_its_log_ended() -> None:
    message = about_model(_model())
    assert message.subject == "calchub: model lj-energy 1 failed"
    for body in (message.text, message.html):
        assert "Model lj-energy version 1 failed" in body
        for fact in ("materials", "alice", "process", "node7", "Reason", "ValueError: bad density"):
            assert fact in body, fact
        assert MODEL_URL in body
    assert REASON in message.text and REASON.replace("'", "&#39;") in message.html
    assert "Version:  1\n" in message.text and "Restarts: 4\n" in message.text
    assert "    Traceback (most recent call last):\n" in message.text, "the log is indented as a block"
    assert {attrs["href"] for attrs in _Tags(message.html).named("a")} == {MODEL_URL}


def test_a_model_without_a_log_or_a_host_leaves_them_out() -> None:
    message = about_model(_model(log_tail="", host=None, restarts=0))
    for body in (message.text, message.html):
        assert "log" not in body and "Host" not in body
    assert "Restarts: 0" in message.text


def test_a_model_s_reason_and_log_are_escaped_in_the_html() -> None:
    message = about_model(
        _model(message="bad <b>input</b> & more", log_tail="</pre><script>steal()</script>\n")
    )
    parsed = _Tags(message.html)
    assert {"script", "b"}.isdisjoint(name for name, _ in parsed.tags)
    assert "bad &lt;b&gt;input&lt;/b&gt; &amp; more" in message.html
    assert "&lt;/pre&gt;&lt;script&gt;steal()&lt;/script&gt;" in message.html
    assert "bad <b>input</b> & more" in message.text, "the plain text is not escaped"


def test_a_model_s_subject_is_one_line_and_keeps_its_verb() -> None:
    message = about_model(_model(name="lj\r\nBcc: victim@example.org" + "x" * 300, version="1\n2"))
    assert "\n" not in message.subject and "\r" not in message.subject
    assert len(message.subject) <= SUBJECT_LIMIT and message.subject.endswith("… 1 2 failed")


@pytest.mark.parametrize(
    ("minutes", "spoken"), [(1, "1 minute"), (2.5, "2.5 minutes"), (60, "1 hour"), (120, "2 hours")]
)
def test_a_window_reads_as_people_say_it(minutes: float, spoken: str) -> None:
    assert spoken_window(minutes) == spoken


def test_a_message_is_plain_data() -> None:
    message = about_calculation(_calc())
    assert isinstance(message, Message)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.subject = "x"  # type: ignore[misc]
