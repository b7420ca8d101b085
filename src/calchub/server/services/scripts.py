"""The batch script of a calculation, exactly as its cluster's agent will submit it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from calchub.contracts import calculations as wire
from calchub.schedulers import slurm
from calchub.server.db.tables import Cluster
from calchub.server.repositories import clusters as cluster_repo
from calchub.server.services.auth import Caller
from calchub.server.services.calculations import describe
from calchub.server.services.clusters import latest_agent, settings_of
from calchub.server.services.errors import Conflict

#: Where work folders live when no agent of the cluster has said yet.
UNKNOWN_ROOT = "$CALCHUB_AGENT_ROOT"


def render(cluster: Cluster, calc: wire.Calculation) -> str:
    if cluster.executor != "slurm":
        raise Conflict(
            f"cluster {cluster.name!r} runs calculations with the {cluster.executor} executor, "
            "which has no batch script; the command is in `calchub show`"
        )
    attempt = max(calc.attempt, 1)
    root = latest_agent(cluster).get("root") or UNKNOWN_ROOT
    workdir = calc.provenance.workdir or f"{root}/{calc.id}-{attempt}"
    job = slurm.ScriptJob(calc.id, attempt, calc.name, calc.command, calc.env, workdir, calc.resources)
    return slurm.render_script(job, settings_of(cluster))


def script(session: Session, caller: Caller, calc_id: int) -> str:
    calc = describe(session, caller, calc_id)
    cluster = cluster_repo.by_name(session, calc.cluster)
    assert cluster is not None
    return render(cluster, calc)
