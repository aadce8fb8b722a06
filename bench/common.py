"""What the benchmarks share about this machine: a process's memory from /proc, a free loopback port, and the
headless Chromium every browser measurement (and the browser tests, tests/conftest.py) launches the same way."""
from __future__ import annotations

import os
import socket
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")   # Debian's Chromium (Playwright's own download fails here)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def status_mb(field: str = "VmRSS", pid: int | str = "self") -> float | None:
    """``field`` of /proc/<pid>/status (VmRSS: resident now; VmHWM: peak resident) in MB, or None if unreadable.
    (No psutil, no gc, no call into the process.)"""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def close_clients(clients) -> None:
    """Close every client in ``clients`` (a list, emptied), ignoring the ones that fail to close."""
    for c in list(clients):
        try:
            c.close()
        except Exception:
            pass
    clients.clear()


def launch_chromium(playwright, executable_path: str = CHROMIUM):
    """Headless Chromium through a ``sync_playwright()`` handle, with the flags this machine needs."""
    return playwright.chromium.launch(executable_path=executable_path, headless=True, args=CHROMIUM_ARGS)
