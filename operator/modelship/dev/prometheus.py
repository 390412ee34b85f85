"""A real Prometheus on 127.0.0.1 for the tests: it scrapes given targets every second, so a
canary analysis' PromQL metrics can be measured against real servers."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelship.dev.binaries import TestbedError, binary
from modelship.dev.s3 import free_port

SCRAPE_INTERVAL = "1s"
READY_TIMEOUT = 60.0


def scrape_config(targets: Sequence[str], job: str = "modelship") -> str:
    """The configuration file: one job scraping `targets` ("host:port") every second.

    JSON is YAML, so the file is written with the standard library."""
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
    }
    return json.dumps(config, indent=2) + "\n"


@dataclass
class PrometheusServer:
    """Prometheus scraping `targets` with its data, configuration and log under `root_dir`,
    listening on 127.0.0.1:`port` (a free one when 0)."""

    root_dir: Path
    targets: Sequence[str] = ()
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return Path(self.root_dir) / "prometheus.log"

    def start(self) -> PrometheusServer:
        """Starts it and returns once it answers /-/ready; raises TestbedError with its log's
        tail when it exits or is not ready in time."""
        self.root_dir = Path(self.root_dir)
        (self.root_dir / "data").mkdir(parents=True, exist_ok=True)
        config = self.root_dir / "prometheus.yml"
        config.write_text(scrape_config(self.targets))
        if not self.port:
            self.port = free_port()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(binary("prometheus")),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.root_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            self._wait_ready(READY_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stops it (SIGTERM, then SIGKILL after 20 s); its folder stays for the log."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector (raises on an error answer)."""
        url = f"{self.address}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.loads(answer.read())
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {promql!r}: {body}")
        return body["data"]["result"]

    def targets_up(self) -> dict[str, str]:
        """Each scraped target's health ("up", "down", "unknown") by its address."""
        with urllib.request.urlopen(f"{self.address}/api/v1/targets", timeout=10) as answer:
            body = json.loads(answer.read())
        return {t["labels"]["instance"]: t["health"] for t in body["data"].get("activeTargets", [])}

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise TestbedError(
                    f"prometheus exited with code {self.process.returncode} at start:\n{tail}"
                )
            try:
                with urllib.request.urlopen(f"{self.address}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise TestbedError(f"prometheus was not ready on {self.address} within {timeout:.0f}s")
