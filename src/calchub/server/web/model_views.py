"""What the model pages show, as pure functions over the registry's records: who may press
what, times as "12 s ago", a version's facts, the "Try it" form's first body, an answer as
the page shows it, and the model's log (its tail, then what it gained)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from calchub.contracts import models as wire
from calchub.server.services import models
from calchub.server.services.auth import Caller
from calchub.server.storage import Store
from calchub.server.web.calculation_page import whole_characters
from calchub.server.web.forms import memory_text

#: The content types the "Try it" form sends.
KINDS = ("application/json", "text/csv")
#: How much of a log a page shows before the live tail takes over.
LOG_TAIL = 64 * 1024
#: How much of a model's answer the page shows.
ANSWER_SHOWN = 64 * 1024


def changeable(session: Session, caller: Caller, found: Sequence[wire.Model]) -> set[int]:
    """The versions the caller may start, stop and make current: by the rule the registry
    applies when they press (owner, the project's managers, admins)."""
    return models.changeable(session, caller, [m.id for m in found])


def grouped(found: Sequence[wire.Model]) -> list[tuple[str, list[wire.Model]]]:
    """The versions by model name, in the listing's order."""
    groups: dict[str, list[wire.Model]] = {}
    for model in found:
        groups.setdefault(model.name, []).append(model)
    return list(groups.items())


def ago(when: datetime | None, at: datetime) -> str:
    """How long before ``at``, in its largest whole unit: "12 s ago", "3 min ago", "never"."""
    if when is None:
        return "never"
    seconds = max(0.0, (at - when).total_seconds())
    if seconds < 1:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def facts(model: wire.Model) -> list[tuple[str, str]]:
    """How the version runs, as the page lists it."""
    if model.image:
        found = [("image", model.image)]
    else:
        found = [("command", " ".join(model.command)), ("Python", _python(model.python))]
    limits = model.resources
    resources = [f"{limits.cpus:g} CPUs" if limits.cpus else "", f"{limits.gpus} GPUs" if limits.gpus else ""]
    resources.append(f"{memory_text(limits.memory)} memory" if limits.memory else "")
    found.append(("resources", ", ".join(r for r in resources if r) or "no limits"))
    found.append(("start within", f"{model.start_seconds:g} s"))
    found.append(("answer within", f"{model.timeout_seconds:g} s"))
    if model.env:
        found.append(("environment", " ".join(f"{k}={v}" for k, v in sorted(model.env.items()))))
    if model.package_bytes is not None:
        found.append(
            ("package", f"{model.package_bytes:,} bytes, SHA-256 {(model.package_sha256 or '')[:12]}")
        )
    return found


def _python(python: wire.Python) -> str:
    return "the server's" if python is wire.Python.SERVER else "its own (from requirements.txt)"


def first_body(model: wire.Model) -> tuple[str, str]:
    """The "Try it" form's body and content type: the model's example input, else a row of
    zeros, one per input column."""
    example = model.inputs.example if model.inputs else None
    if isinstance(example, str):
        return example, "text/csv"
    if example is not None:
        return json.dumps(example, indent=2), "application/json"
    columns = model.inputs.columns if model.inputs and model.inputs.columns else ["x"]
    return json.dumps({"instances": [[0.0] * len(columns)]}), "application/json"


@dataclass(frozen=True)
class Answer:
    """What the page shows of an invocation: the status, the content type and the body (JSON
    indented), or calchub's own refusal (``problem``)."""

    status: int
    kind: str = ""
    text: str = ""
    problem: str | None = None
    cut: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None and self.status < 400


def answer(status: int, body: bytes, headers: dict[str, str]) -> Answer:
    kind = headers.get("content-type", "")
    text = body[:ANSWER_SHOWN].decode(errors="replace")
    if "json" in kind and len(body) <= ANSWER_SHOWN:
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return Answer(status, kind, text, cut=len(body) > ANSWER_SHOWN)


def log_tail(store: Store, model_id: int) -> tuple[str, int]:
    """The last ``LOG_TAIL`` bytes of the model's log as text, and the offset the live stream
    goes on from: whole characters only (one cut at the end is the stream's to send)."""
    try:
        with models.log_path(store, model_id).open("rb") as log:
            size = log.seek(0, 2)
            start = max(0, size - LOG_TAIL)
            log.seek(start)
            data = log.read(size - start)
    except FileNotFoundError:
        return "", 0
    head = next((i for i, byte in enumerate(data[:4]) if byte & 0xC0 != 0x80), 0)
    end = whole_characters(data)
    return data[head:end].decode(errors="replace"), start + end


def log_from(store: Store, model_id: int, offset: int, limit: int) -> bytes:
    """At most ``limit`` bytes of the model's log from ``offset`` on (every start appends)."""
    try:
        with models.log_path(store, model_id).open("rb") as log:
            log.seek(offset)
            return log.read(limit)
    except FileNotFoundError:
        return b""
