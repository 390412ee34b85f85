"""A private Docker engine for building the images: Debian's dockerd, started with its own data
root, exec root and socket under the cache, never the machine's default engine.

It runs with no bridge, no iptables rules and no IP forwarding (builds use the host's network),
so starting and stopping it changes nothing else on the machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from modelship.dev.binaries import TestbedError, cache_dir
from modelship.dev.host import terminate, unmount_under


def _docker_client() -> str:
    # Debian's client matches Debian's engine; another client on PATH may speak a newer API.
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            return candidate
    raise TestbedError(
        "the docker client is missing; install Debian's docker.io (apt-get install docker.io)"
    )


class DockerEngine:
    """One dockerd of our own; `docker(...)` runs the client against it."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_dir() / "docker"
        # The exec root holds unix sockets, whose paths must stay short (108 bytes); one per
        # data root, so two caches (two checkouts' CI runs) never share an engine.
        key = hashlib.sha256(str(self.root).encode()).hexdigest()[:8]
        self.exec_root = Path(f"/run/modelship-docker-{key}")

    @property
    def socket(self) -> Path:
        return self.exec_root / "docker.sock"

    @property
    def pid_file(self) -> Path:
        return self.exec_root / "dockerd.pid"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        version = self.docker("version", "--format", "{{.Server.Version}}", check=False, timeout=30)
        return version.returncode == 0

    def start(self, timeout: float = 60) -> None:
        """Starts the engine (or reuses ours if it runs); raises TestbedError saying why not."""
        if self.running():
            return
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise TestbedError(
                "dockerd is missing: the images are built with Debian's docker.io "
                "(apt-get install docker.io)"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            subprocess.Popen(
                [
                    dockerd,
                    f"--data-root={self.root / 'data'}",
                    f"--exec-root={self.exec_root}",
                    f"--pidfile={self.pid_file}",
                    f"--host=unix://{self.socket}",
                    "--iptables=false",
                    "--ip6tables=false",
                    "--ip-forward=false",
                    "--ip-masq=false",
                    "--bridge=none",
                    "--storage-driver=overlay2",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.running():
            if time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise TestbedError(f"dockerd did not start in {timeout:.0f}s; its log:\n{tail}")
            time.sleep(0.5)

    def stop(self, timeout: float = 30) -> None:
        """Stops our engine and its containerd; a no-op when it is not running."""
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return
        terminate(pid, grace=timeout)
        # dockerd leaves its network namespace mounted under the exec root.
        unmount_under(str(self.exec_root))

    def docker(
        self,
        *args: str,
        check: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Runs the docker client against our engine, with the legacy builder (it takes FROM
        images from this engine, never asking a registry); raises TestbedError with the
        output when `check` is set and the command fails."""
        result = subprocess.run(
            [_docker_client(), "-H", f"unix://{self.socket}", *args],
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
            text=True,
            capture_output=True,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise TestbedError(
                f"docker {' '.join(args[:3])} failed (exit {result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result
