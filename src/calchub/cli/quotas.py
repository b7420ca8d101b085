"""The quota options that `calchub user quota`, `project add` and `project set` share."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from calchub.cli.output import number, table, when

if TYPE_CHECKING:
    from calchub.contracts.projects import Usage
    from calchub.contracts.users import Quotas


class Limit(StrEnum):
    MAX_RUNNING = "max-running"
    MAX_QUEUED = "max-queued"
    CORE_HOURS = "core-hours"


MaxRunning = Annotated[
    int | None, typer.Option("--max-running", min=0, help="at most this many running at once")
]
MaxQueued = Annotated[
    int | None, typer.Option("--max-queued", min=0, help="at most this many waiting (queued or for approval)")
]
CoreHours = Annotated[float | None, typer.Option("--core-hours", min=0, help="core-hours per period")]
Days = Annotated[int | None, typer.Option("--days", min=1, help="the period of --core-hours, in days")]
Unlimited = Annotated[
    list[Limit] | None, typer.Option("--unlimited", help="remove this limit (repeat for more)")
]


def merged(
    current: Quotas,
    max_running: int | None,
    max_queued: int | None,
    core_hours: float | None,
    days: int | None,
    unlimited: list[Limit] | None,
) -> Quotas | None:
    """``current`` with the limits given changed, the others kept; None when nothing was given."""
    from calchub.contracts.users import Quotas

    chosen = {
        "max_running": max_running,
        "max_queued": max_queued,
        "core_hours": core_hours,
        "quota_days": days,
    }
    changes: dict[str, object] = {key: value for key, value in chosen.items() if value is not None}
    removed = {limit.value.replace("-", "_"): None for limit in unlimited or []}
    if not changes and not removed:
        return None
    return Quotas.model_validate(current.model_dump() | changes | removed)


def describe(quotas: Quotas) -> str:
    """One line: `max running 4, max queued none, 100 core-hours per 30 days`."""
    hours = "no core-hour limit"
    if quotas.core_hours is not None:
        hours = f"{number(quotas.core_hours)} core-hours per {quotas.quota_days} days"
    return (
        f"max running {number(quotas.max_running, 'none')}, "
        f"max queued {number(quotas.max_queued, 'none')}, {hours}"
    )


def show_usage(usage: Usage) -> None:
    rows = [
        (q.quota.replace("_", " "), number(q.used), number(q.limit, "none"), number(q.left))
        for q in usage.quotas
    ]
    table(f"{usage.project} since {when(usage.since)}", ["quota", "used", "limit", "left"], rows)
