"""calchub cluster ls, add, configure, show, load, enable, disable, key, keys, revoke-key, rotate-key."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from calchub.cli.output import connected, console, emit_json, fail, number, table, when

if TYPE_CHECKING:
    from calchub.contracts.clusters import AgentLoad

app = typer.Typer(help="Compute sites and their agent keys.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@app.command("ls")
def ls(json: JsonOpt = False) -> None:
    """List clusters, with their agents' last heartbeat."""
    with connected() as client:
        found = client.clusters()
    if json:
        emit_json(found)
        return
    rows = []
    for c in found:
        agents = c.status.get("agents", {})
        load = ", ".join(
            f"{n}: {a.get('running', 0)}/{a.get('cores', 0)} cores busy" for n, a in agents.items()
        )
        rows.append((c.name, c.executor, "yes" if c.enabled else "no", when(c.last_heartbeat), load or "-"))
    table(None, ["name", "executor", "enabled", "last heartbeat", "agents"], rows)


SlurmFile = Annotated[
    Path | None, typer.Option("--slurm", help="YAML or JSON of Slurm settings (docs/admin/slurm.md)")
]


@app.command("add")
def add(
    name: str, description: str = "", executor: str = "local", slurm: SlurmFile = None, json: JsonOpt = False
) -> None:
    """Register a cluster (admins): `calchub cluster add hpc --executor slurm --slurm hpc.yaml`."""
    settings = _settings(slurm) if slurm else None
    with connected() as client:
        cluster = client.register_cluster(name, description, executor, settings)
    emit_json(cluster) if json else console.print(f"registered cluster {cluster.name}")


@app.command("configure")
def configure(name: str, slurm: SlurmFile = None, json: JsonOpt = False) -> None:
    """Set a cluster's Slurm settings (admins); its agents pick them up at their next heartbeat."""
    if slurm is None:
        fail("give --slurm FILE with the settings")
    with connected() as client:
        cluster = client.configure_slurm(name, _settings(slurm))
    emit_json(cluster) if json else console.print(f"configured cluster {cluster.name}")


@app.command("show")
def show(name: str, json: JsonOpt = False) -> None:
    """One cluster: its executor, Slurm settings, agents and the partition table."""
    with connected() as client:
        cluster = client.cluster(name)
    if json:
        emit_json(cluster)
        return
    console.print(f"[bold]{escape(cluster.name)}[/bold] ({cluster.executor}) {escape(cluster.description)}")
    if cluster.slurm is not None:
        console.print(escape(cluster.slurm.model_dump_json(exclude_defaults=True)), highlight=False)
    rows = [
        (
            p.name + ("*" if p.default else ""),
            p.state,
            f"{p.nodes_idle}/{p.nodes_total}",
            f"{p.cpus_idle}/{p.cpus_total}",
            f"{p.gpus_idle}/{p.gpus_total}",
            p.time_limit,
        )
        for p in cluster.partitions
    ]
    table("partitions", ["partition", "state", "nodes idle", "CPUs idle", "GPUs idle", "time limit"], rows)


@app.command("load")
def load(
    name: str,
    hours: Annotated[float, typer.Option(min=0.01, max=720, help="the window, ending now")] = 6.0,
    json: JsonOpt = False,
) -> None:
    """The cluster's load over time: per agent, a sparkline of CPU % with its latest and peak,
    running calculations against cores, and memory used."""
    with connected() as client:
        found = client.cluster_load(name, hours)
    if json:
        emit_json(found)
        return
    step = number(found.step_seconds / 60)
    console.print(
        f"{escape(found.cluster)}: last {number(hours)} h, one point per {step} min", highlight=False
    )
    table(
        None,
        ["agent", "CPU %", "now", "peak", "running/cores", "memory used"],
        [_load_row(a) for a in found.agents],
    )


def _load_row(agent: AgentLoad) -> tuple[str, ...]:
    if not agent.points:
        return (agent.agent, "", "-", "-", "-", "-")
    cpu = [p.cpu_percent for p in agent.points]
    last = agent.points[-1]
    memory = f"{_gib(last.memory_used)} / {_gib(last.memory_total)} GiB"
    return (
        agent.agent,
        sparkline(cpu),
        number(round(cpu[-1])),
        number(round(max(cpu))),
        f"{number(round(last.running, 1))}/{last.cores}",
        memory,
    )


BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 40, top: float = 100.0) -> str:
    """``values`` (0 to ``top``) as at most ``width`` bars, each the mean of its share."""
    if not values:
        return ""
    n = min(width, len(values))
    shares = [values[i * len(values) // n : (i + 1) * len(values) // n] for i in range(n)]
    means = [sum(s) / len(s) for s in shares]
    return "".join(BARS[min(len(BARS) - 1, max(0, int(m / top * len(BARS))))] for m in means)


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f}"


def _settings(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        fail(f"--slurm {str(path)!r}: no such file")
    loaded = yaml.safe_load(path.read_text())
    if not isinstance(loaded, dict):
        fail(f"--slurm {str(path)!r} must hold a mapping of settings")
    return loaded


@app.command("enable")
def enable(name: str) -> None:
    """Let the cluster take work again."""
    with connected() as client:
        client.set_cluster_enabled(name, True)
    console.print(f"cluster {name} enabled")


@app.command("disable")
def disable(name: str) -> None:
    """Stop the cluster taking new work (running work goes on)."""
    with connected() as client:
        client.set_cluster_enabled(name, False)
    console.print(f"cluster {name} disabled")


@app.command("key")
def key(name: str, json: JsonOpt = False) -> None:
    """Issue a new agent key for the cluster; it is shown once."""
    with connected() as client:
        issued = client.issue_agent_key(name)
    if json:
        emit_json(issued)
        return
    console.print(f"agent key {issued.id} for {name} (shown once):\n{issued.key}", highlight=False)
    console.print(f"run the agent with: calchub agent --url URL --key {issued.key}", highlight=False)


@app.command("keys")
def keys(name: str, json: JsonOpt = False) -> None:
    """List the cluster's agent keys."""
    with connected() as client:
        found = client.agent_keys(name)
    if json:
        emit_json(found)
        return
    table(
        None,
        ["id", "prefix", "created", "revoked"],
        [(k.id, k.prefix + "...", when(k.created_at), when(k.revoked_at)) for k in found],
    )


@app.command("revoke-key")
def revoke_key(name: str, key_id: int) -> None:
    """Revoke an agent key: the agent using it is refused from now on."""
    with connected() as client:
        client.revoke_agent_key(name, key_id)
    console.print(f"revoked key {key_id} of {name}")


@app.command("rotate-key")
def rotate_key(
    name: str,
    key_id: int,
    grace_minutes: Annotated[
        int, typer.Option(min=0, help="the old key keeps working this long, so its agent can switch")
    ] = 0,
    json: JsonOpt = False,
) -> None:
    """Replace an agent key with a new one (shown once); the old one stops after the grace time."""
    with connected() as client:
        issued = client.rotate_key(name, key_id, grace_minutes)
    if json:
        emit_json(issued)
        return
    until = f"keeps working for {grace_minutes} minute(s)" if grace_minutes else "stops working now"
    console.print(f"agent key {issued.id} for {name} replaces key {key_id}, which {until}", highlight=False)
    console.print(f"new key (shown once):\n{issued.key}", highlight=False)
