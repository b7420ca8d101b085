"""What the pages' live streams send: event framing that no text can break, and log tails."""

from __future__ import annotations

from pathlib import Path

import pytest

from calchub.server.storage import Store
from calchub.server.web.calculation_page import whole_characters
from calchub.server.web.rendering import sse


def _events(raw: bytes) -> list[tuple[str, str]]:
    """Parse server-sent events as a browser does: a line ends at CR, LF or CRLF."""
    found, event, data = [], "message", []
    for line in raw.decode().replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data:
                found.append((event, "\n".join(data)))
            event, data = "message", []
        elif line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
    return found


@pytest.mark.parametrize(
    "text",
    [
        "one line",
        "two\nlines",
        "10%\r20%\r100%\n",
        "a\r\nb",
        "tail\nevent: end\n",
        "x\revent: state\rdata: y",
    ],
)
def test_an_event_carries_its_text_whole_and_nothing_in_it_starts_an_event(text: str) -> None:
    [(event, data)] = _events(sse("log", text))
    assert event == "log"
    assert data == text.replace("\r\n", "\n").replace("\r", "\n"), "every line ending arrives as one"


def test_a_log_is_read_from_an_offset_and_at_most_a_limit(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert store.log_size(1, 1, "stdout") == 0 and store.read_log(1, 1, "stdout", 0, 10) == b""
    store.append_log(1, 1, "stdout", 0, b"0123456789abcdef")
    assert store.log_size(1, 1, "stdout") == 16
    assert store.read_log(1, 1, "stdout", 4, 6) == b"456789"
    assert store.read_log(1, 1, "stdout", 10) == b"abcdef"


@pytest.mark.parametrize(
    ("data", "whole"),
    [
        (b"", 0),
        (b"plain", 5),
        ("café".encode(), 5),
        ("café".encode()[:-1], 3),  # é cut after its first byte
        ("ab€".encode()[:-1], 2),  # € (3 bytes) cut after two
        ("ab€".encode()[:-2], 2),
        ("x😀".encode(), 5),
        ("x😀".encode()[:-1], 1),  # a 4-byte character cut after three
    ],
)
def test_a_log_tail_ends_at_its_last_whole_character(data: bytes, whole: int) -> None:
    assert whole_characters(data) == whole
    data[:whole].decode()  # what is kept decodes cleanly
