"""What a heartbeat says about this machine (psutil)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import psutil


def machine(root: Path) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(root))
    return {
        "host": socket.gethostname(),
        "cpu_percent": psutil.cpu_percent(interval=None),
        "load_avg": list(os.getloadavg()),
        "memory_total": memory.total,
        "memory_available": memory.available,
        "disk_total": disk.total,
        "disk_free": disk.free,
    }
