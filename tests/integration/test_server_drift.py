"""Drift monitoring in a real `modelship serve` process: the digits model is trained, pushed
to the real S3 server with a baseline of its training pixels (`modelship push --baseline`),
pulled as a serving pod's init container does, and served. Digits like the training ones
land in the baseline's bins as the baseline did; the same digits with inverted pixels (white
on black) land where the training digits never were — in the monitoring answer and in the
Prometheus metrics, labelled by model and version."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from modelship.api import DriftSpec
from modelship.artifacts import MANIFEST_NAME, Manifest
from modelship.artifacts.baseline import Baseline
from modelship.controller.monitoring import gather_summaries
from modelship.reconcile.drift import assess_drift
from tests.integration.test_server_api import STARTUP_SECONDS, ServerProcess, start_server
from tests.integration.test_server_lifecycle import digits_example

pytestmark = [pytest.mark.integration, pytest.mark.tf]

MONITORING = "/v1/models/digits/monitoring"
PREDICT = "/v1/models/digits:predict"


@dataclass
class Served:
    server: ServerProcess
    x_test: np.ndarray[Any, Any]
    baseline: Baseline


def modelship(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from modelship.cli import main; main()", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def served(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("drift")
    example = digits_example()
    model, _ = example.build_and_train(epochs=3)
    example.export_saved_model(model, work / "model")
    x_train, x_test, _, _ = example.load_digits_split()
    np.savez(work / "sample.npz", pixels=x_train)
    bucket = "drift-" + os.urandom(4).hex()
    s3_server.client().create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/models/digits"
    env = s3_server.env()
    pushed = modelship(
        "push", str(work / "model"), uri, "--baseline", str(work / "sample.npz"), env=env
    )
    assert pushed.returncode == 0, pushed.stderr
    base = work / "base"
    pulled = modelship("pull", uri, str(base / "1"), "--version", "1", env=env)
    assert pulled.returncode == 0, pulled.stderr
    server = start_server("digits", base, work / "serve.log")
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while server.get("/v2/health/ready").status != 200:
            server.check_running()
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.2)
        manifest = Manifest.from_json((base / "1" / MANIFEST_NAME).read_bytes())
        assert manifest.baseline is not None
        yield Served(server, x_test, manifest.baseline)
    finally:
        server.terminate()


def counted(server: ServerProcess, at_least: int) -> dict[str, Any]:
    """The monitoring answer once `at_least` rows are counted (counting runs off the
    request's path, so it may trail the answers by a moment)."""
    deadline = time.monotonic() + 60
    while True:
        reply = server.get(MONITORING)
        assert reply.status == 200, reply.body
        if reply.body["samples"] >= at_least:
            return dict(reply.body)
        assert time.monotonic() < deadline, reply.body
        time.sleep(0.1)


def feature(summary: dict[str, Any], name: str, source: str = "input") -> dict[str, Any]:
    return next(f for f in summary["features"] if f["name"] == name and f["source"] == source)


def drift_verdict(server: ServerProcess, baseline: Baseline) -> Any:
    """What the operator decides from this server's counts, gathered as it gathers them
    (controller/monitoring.py), with a pod that does not answer beside it."""
    # The server listens on 127.0.0.1 only: 127.0.0.2 refuses the connection.
    targets = [("pod-a", "127.0.0.1"), ("pod-gone", "127.0.0.2")]
    gathered = asyncio.run(gather_summaries(targets, server.port, "digits", 3600))
    assert [s.pod for s in gathered] == ["pod-a"]
    spec = DriftSpec(min_samples=300, action="Retrain")
    return assess_drift(
        spec,
        1,
        baseline,
        gathered,
        asked=2,
        previous=None,
        generation=1,
        now=datetime.now(UTC),
    )


def test_live_inputs_and_predictions_are_counted_in_the_baselines_bins(served: Served) -> None:
    server, x_test, baseline = served.server, served.x_test, served.baseline
    before = server.get(MONITORING).body
    assert before["baseline"] is True and before["version"] == 1
    assert before["samples"] == 0  # the warm-up is not traffic
    assert len(before["features"]) == 64 + 10  # 64 pixels, 10 class probabilities
    rows = len(x_test)

    # Digits like the training ones: counted, and no false alarm.
    assert server.post(PREDICT, {"instances": x_test.tolist()}).status == 200
    normal = counted(server, rows)
    corner = feature(normal, "pixels[0]")  # always blank in the training digits
    assert corner["edges"] == [0.0]
    assert corner["counts"] == [rows, 0]
    unshifted = drift_verdict(server, baseline)
    assert unshifted.status["verdict"] == "NoDrift", unshifted.status
    assert unshifted.status["score"] < 0.2 and unshifted.status["samples"] == rows

    # The same digits inverted (white on black): where the training digits never were.
    assert server.post(PREDICT, {"instances": (1.0 - x_test).tolist()}).status == 200
    shifted = counted(server, 2 * rows)
    assert feature(shifted, "pixels[0]")["counts"] == [rows, rows]
    assert sum(feature(shifted, "probabilities[0]", "output")["counts"]) == 2 * rows
    assert server.get(MONITORING + "?window=300").body["samples"] == 2 * rows
    drifted = drift_verdict(server, baseline)
    assert drifted.status["verdict"] == "DriftDetected", drifted.status
    assert drifted.status["worstFeature"].startswith("input pixels[")
    assert drifted.retrain is not None and [e.reason for e in drifted.events] == ["DriftDetected"]

    labels = {"model": "digits", "version": "1"}
    assert server.metric("modelship_drift_samples_total", **labels) == 2 * rows
    white_corner = server.metric(
        "modelship_drift_bin_samples_total",
        **labels,
        source="input",
        feature="pixels[0]",
        le="+Inf",
    )
    assert white_corner == rows


def test_a_bad_window_is_refused(served: Served) -> None:
    reply = served.server.get(MONITORING + "?window=soon")
    assert reply.status == 400
    assert "window" in reply.body["error"]
