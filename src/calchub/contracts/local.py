"""Files under CALCHUB_HOME that let a laptop's CLI and agent find their server.

``calchub up`` writes them on first run; the CLI, client and agent read them.
They hold secrets, so they are written readable by their owner only.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

CLIENT_FILE = "client.json"
AGENT_FILE = "agent.json"


class ClientConfig(BaseModel):
    url: str
    token: str
    username: str | None = None


class AgentConfig(BaseModel):
    url: str
    key: str
    cluster: str
    name: str | None = None
    root: str | None = None
    cores: int | None = None


def home_from_env() -> Path:
    return Path(os.environ.get("CALCHUB_HOME") or "~/.calchub").expanduser()


def write_private(path: Path, model: BaseModel) -> None:
    """Write JSON that only the owner can read, replacing any old file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(model.model_dump_json(indent=2))
    os.replace(tmp, path)
