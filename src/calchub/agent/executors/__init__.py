"""Executors run one calculation's command somewhere; the agent chooses one by name."""

from __future__ import annotations

from calchub.agent.executors.base import Executor


def load(name: str) -> Executor:
    """The executor registered under ``name`` (built in, or through entry points)."""
    if name == "local":
        from calchub.agent.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "slurm":
        from calchub.agent.executors.slurm import SlurmExecutor

        return SlurmExecutor()
    from importlib.metadata import entry_points

    for entry in entry_points(group="calchub.executors"):
        if entry.name == name:
            executor: Executor = entry.load()()
            return executor
    raise ValueError(f"no executor named {name!r}; built in: local, slurm")
