"""After a run, next to its files: validate, extract, analyse, clean up.

Runs on the agent. A run that fails validation is ``invalid``; an extractor or
analysis that raises makes it ``failed`` (the results so far are kept, the raw
files too, for a look); only a run whose extraction succeeded is cleaned up.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from calchub.calctypes.api import AnalysisContext, CalcType, RunDir
from calchub.calctypes.graph import in_order
from calchub.calctypes.paths import any_match
from calchub.calctypes.results import Results
from calchub.contracts.results import ResultSet

log = logging.getLogger("calchub.agent")
Verdict = Literal["completed", "invalid", "failed"]


@dataclass
class Finished:
    verdict: Verdict
    results: ResultSet
    message: str | None = None


def postprocess(calctype: CalcType, run: RunDir, analyses: list[str], keep: list[str]) -> Finished:
    results = Results()
    try:
        problems = calctype.validate(run)
    except Exception as error:
        return Finished("failed", results.wire(), _crash("validation", error))
    if problems:
        return Finished("invalid", results.wire(), "; ".join(problems))
    try:
        calctype.extract(run, results)
    except Exception as error:
        return Finished("failed", results.wire(), _crash("extraction", error))
    for step in in_order(calctype.analyses, analyses):
        results.source = step.name
        try:
            step.run(AnalysisContext(run, results))
        except Exception as error:
            return Finished("failed", results.wire(), _crash(f"analysis {step.name!r}", error))
    freed, removed = clean_up(run.path, calctype.cleanup, keep)
    return Finished("completed", results.wire(bytes_freed=freed, files_removed=removed))


def _crash(stage: str, error: Exception) -> str:
    log.warning("%s raised", stage, exc_info=error, extra={"action": "agent.postprocess.error"})
    last = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
    where = f" at {Path(last[0].filename).name}:{last[0].lineno}" if last else ""
    return f"{stage} raised {type(error).__name__}: {error}{where}"


def clean_up(workdir: Path, patterns: list[str], keep: list[str]) -> tuple[int, int]:
    """Delete files matching ``patterns`` but not ``keep``; the bytes and files freed."""
    freed = removed = 0
    for path in sorted(workdir.rglob("*")):
        relative = path.relative_to(workdir).as_posix()
        if relative.startswith(".calchub/") or not path.is_file() or path.is_symlink():
            continue
        if any_match(relative, patterns) and not any_match(relative, keep):
            freed += path.stat().st_size
            path.unlink()
            removed += 1
    return freed, removed
