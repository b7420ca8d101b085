"""How an agent is configured: flags, then CALCHUB_* variables, then CALCHUB_HOME/agent.json."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from calchub.contracts.local import AGENT_FILE, AgentConfig, home_from_env


@dataclass
class AgentSettings:
    url: str
    key: str
    root: Path
    name: str = socket.gethostname()
    cores: int = os.cpu_count() or 1
    gpus: int = 0
    executor: str = "local"
    claim_wait: float = 20.0
    #: Cores' worth of work claimed ahead, so the next run starts without a round trip
    #: (None: paced by how long runs take against a round trip; see ``agent.pace``).
    prefetch: int | None = None

    @property
    def spool(self) -> Path:
        return self.root / ".spool"


class AgentConfigError(ValueError):
    pass


#: On a batch scheduler, "cores" is how many cores' worth of jobs the agent keeps submitted.
BATCH_CORES = 1024


def resolve(
    url: str | None,
    key: str | None,
    root: Path | None,
    name: str | None,
    cores: int | None,
    executor: str | None = None,
) -> AgentSettings:
    home = home_from_env()
    saved = home / AGENT_FILE
    config = AgentConfig.model_validate_json(saved.read_text()) if saved.exists() else None
    url = url or os.environ.get("CALCHUB_URL") or (config.url if config else None)
    key = key or os.environ.get("CALCHUB_AGENT_KEY") or (config.key if config else None)
    if not url or not key:
        raise AgentConfigError(
            "the agent needs a server URL and an agent key: pass --url and --key, set CALCHUB_URL "
            f"and CALCHUB_AGENT_KEY, or run `calchub up` once to write {saved}"
        )
    chosen_root = root or (Path(config.root) if config and config.root else home / "work")
    settings = AgentSettings(url=url, key=key, root=chosen_root.expanduser())
    settings.name = (
        name
        or os.environ.get("CALCHUB_AGENT_NAME")
        or (config.name if config and config.name else settings.name)
    )
    settings.executor = executor or os.environ.get("CALCHUB_AGENT_EXECUTOR") or settings.executor
    batch = BATCH_CORES if settings.executor != "local" else settings.cores
    settings.cores = cores or (config.cores if config and config.cores else batch)
    if settings.cores < 1:
        raise AgentConfigError("--cores must be at least 1")
    return settings
