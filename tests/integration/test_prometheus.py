"""The test bed's Prometheus (modelship.dev.prometheus) starts on 127.0.0.1, scrapes the
targets it is given every second, answers PromQL, and stops cleanly."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from modelship.dev.prometheus import PrometheusServer
from modelship.dev.s3 import free_port
from tests.cluster_fixtures import wait_for

pytestmark = pytest.mark.integration


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_prometheus_scrapes_its_targets_answers_queries_and_stops(tmp_path: Path) -> None:
    port = free_port()
    # It scrapes itself and a port where nothing listens: one target up, one down.
    nothing = free_port()
    prometheus = PrometheusServer(
        tmp_path / "prom", targets=[f"127.0.0.1:{port}", f"127.0.0.1:{nothing}"], port=port
    ).start()
    try:
        assert prometheus.address == f"http://127.0.0.1:{port}"
        health = wait_for(
            lambda: (h := prometheus.targets_up()) and "unknown" not in h.values() and h,
            timeout=30,
            what="both targets scraped once",
        )
        assert health == {f"127.0.0.1:{port}": "up", f"127.0.0.1:{nothing}": "down"}
        up = {r["metric"]["instance"]: r["value"][1] for r in prometheus.query("up")}
        assert up == {f"127.0.0.1:{port}": "1", f"127.0.0.1:{nothing}": "0"}
        process = prometheus.process
    finally:
        prometheus.stop()
    assert process is not None and process.returncode == 0
    assert not _listening(port)
    assert (tmp_path / "prom" / "data").is_dir()
