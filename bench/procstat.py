"""A process's memory as Linux reports it in /proc/<pid>/status (no psutil, no gc, no call into the process)."""
from __future__ import annotations

from pathlib import Path


def status_mb(field: str = "VmRSS", pid: int | str = "self") -> float | None:
    """``field`` of /proc/<pid>/status (VmRSS: resident now; VmHWM: peak resident) in MB, or None if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
