"""What the sandbox does to this machine's processes and mounts: whether a process it started
still runs, stopping one, and unmounting what it mounted. Shared by the sandbox, the real node
and the image build's Docker engine, which all start detached processes and must leave none."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, not yet reaped) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def terminate(pid: int, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; reaps the process when it is our child."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def mount_points() -> list[str]:
    """Mount points, from this process's mount table."""
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def unmount_under(*prefixes: str) -> None:
    """Lazily unmounts every mount point under the prefixes, deepest first."""
    points = [m for m in mount_points() if m.startswith(prefixes)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
