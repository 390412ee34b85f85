"""Every benchmark in bench/ runs once at a tiny size, so a bench that can no longer start (an
import shadowed, an option renamed, a helper moved) fails CI instead of the next person who
wants its figures. The figures themselves are not judged here: speed is read in bench/README.md.

bench/real_node.py is not run: it measures the sandbox that `make dev` leaves running (its
real node and the digits model), which the test suite does not start; the e2e tests on the real
node cover what it reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float) -> str:
    # -P: as `make bench` runs them, the script's folder does not head sys.path.
    result = subprocess.run(
        [sys.executable, "-P", str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, (
        f"bench/{script} {' '.join(args)} exited {result.returncode}:\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def test_testbed_bench_prints_startup_and_memory() -> None:
    out = run_bench("testbed.py", "--runs", "1", timeout=300)
    assert "cluster up (6 nodes Ready): " in out
    assert "kube-apiserver" in out


def test_artifacts_bench_prints_the_ratio_to_boto3() -> None:
    out = run_bench("artifacts.py", "--size-mb", "2", "--files", "2", "--rounds", "1", timeout=300)
    assert "ratio pull / boto3:" in out
    assert "verification (sha256) cost:" in out


@pytest.mark.tf
def test_serving_bench_prints_a_row_per_endpoint() -> None:
    out = run_bench(
        "serving.py",
        "--requests",
        "10",
        "--concurrency",
        "1",
        "--epochs",
        "1",
        timeout=600,
    )
    for endpoint in ("in-process", "modelship", "modelship grpc", "naive"):
        assert any(line.startswith(f"{endpoint} ") for line in out.splitlines()), out


def test_controller_bench_prints_each_figure() -> None:
    out = run_bench(
        "controller.py", "--count", "2", "--runs", "1", "--idle-seconds", "1", timeout=600
    )
    for heading in ("(a) one object", "(b) 2 objects", "(c) Kubernetes API", "(d) operator", "(e)"):
        assert heading in out, out
    assert "new version in S3 -> all 2 Ready on it" in out
