"""A canary's analysis against real metrics: a real Prometheus (the test bed's, built from the
Go module proxy) scrapes real `modelship serve` processes, one standing in for each version
(the kwok pods serve nothing), while a steady load runs against each. A version an order of
magnitude slower is rolled back by itself within interval * failureLimit + 10 s of its first
failed measurement; a good version is promoted through every step.

The operator reads the versions from S3 (where tiny models are published as 1, 2, 3);
Prometheus reads the stand-ins, each of which labels its metrics with its own version (the
number of its model folder), so `{{canary}}` in the query picks the right one."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelship.dev.prometheus import PrometheusServer
from tests.cluster_fixtures import wait_for
from tests.integration.operator_env import ModelWorld, condition_of, is_ready_with
from tests.integration.test_server_api import ServerProcess, start_server
from tests.models import write_slow_saved_model

pytestmark = pytest.mark.integration

INTERVAL_S = 5
FAILURE_LIMIT = 2
ROLLBACK_BOUND_S = INTERVAL_S * FAILURE_LIMIT + 10  # the acceptance bound
P99_MAX_S = 0.1
"""Between the two: the tiny model answers in milliseconds, the slow one in hundreds of them
(measured through the server on the test bed's two busy cores: see the check below)."""
P99_QUERY = (
    "histogram_quantile(0.99, sum by (le) ("
    'rate(modelship_request_duration_seconds_bucket{version="{{canary}}"}[15s])))'
)
STEPS = [{"weight": 25, "pause": "5s"}, {"weight": 50, "pause": "5s"}]


@dataclass
class Load:
    """Requests sent one after another to one stand-in until stopped, with their answers."""

    server: ServerProcess
    statuses: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                reply = self.server.post("/v1/models/digits:predict", {"instances": [[1, 2, 3, 4]]})
                self.statuses.append(reply.status)
            except OSError:
                self.statuses.append(0)
            self.stop.wait(0.05)  # steady, and leaves the shared cores some room


@pytest.fixture
def stand_ins(tmp_path: Path, tiny_saved_model: Path) -> Iterator[dict[int, Load]]:
    """`modelship serve` for versions 1 (tiny), 2 (the same answers, ten times slower or more) and
    3 (tiny), each under a steady load for the whole test."""
    slow = write_slow_saved_model(tmp_path / "slow", matmuls=60, size=512)
    models = {1: tiny_saved_model, 2: slow, 3: tiny_saved_model}
    for version, model in models.items():
        shutil.copytree(model, tmp_path / f"base-{version}" / str(version))

    def start(version: int) -> ServerProcess:
        return start_server(
            "digits", tmp_path / f"base-{version}", tmp_path / f"serve-{version}.log"
        )

    with ThreadPoolExecutor(len(models)) as pool:
        servers = dict(zip(models, pool.map(start, models), strict=True))
    loads = {version: Load(server) for version, server in servers.items()}
    threads = []
    try:
        for server in servers.values():
            server.wait_ready()
        for load in loads.values():
            thread = threading.Thread(target=load.run, daemon=True)
            thread.start()
            threads.append(thread)
        yield loads
    finally:
        for load in loads.values():
            load.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for server in servers.values():
            server.terminate()


@pytest.fixture
def prometheus(tmp_path: Path, stand_ins: dict[int, Load]) -> Iterator[PrometheusServer]:
    targets = [f"127.0.0.1:{load.server.port}" for load in stand_ins.values()]
    with PrometheusServer(tmp_path / "prometheus", targets) as server:
        yield server


def p99(prometheus: PrometheusServer, version: int) -> float | None:
    result = prometheus.query(P99_QUERY.replace("{{canary}}", str(version)))
    if not result or result[0]["value"][1] == "NaN":
        return None
    return float(result[0]["value"][1])


def canary_with_analysis(world: ModelWorld, prometheus: PrometheusServer) -> dict[str, Any]:
    metric = {
        "name": "p99",
        "prometheus": {"address": prometheus.address, "query": P99_QUERY},
        "max": P99_MAX_S,
    }
    rollout = {
        "strategy": "Canary",
        "steps": STEPS,
        "analysis": {
            "interval": f"{INTERVAL_S}s",
            "failureLimit": FAILURE_LIMIT,
            "metrics": [metric],
        },
    }
    return world.model_deployment().replicas(4).set("rollout", rollout).obj()


def _stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def test_a_slow_version_is_rolled_back_by_prometheus_analysis_and_a_good_one_promoted(
    operating: ModelWorld, stand_ins: dict[int, Load], prometheus: PrometheusServer
) -> None:
    world = operating
    # The stand-ins as Prometheus sees them: version 2 above the limit, 1 and 3 well below.
    measured = wait_for(
        lambda: (
            (values := {v: p99(prometheus, v) for v in (1, 2, 3)})
            and None not in values.values()
            and values
        ),
        timeout=60,
        what="Prometheus to measure every stand-in's p99",
    )
    assert measured[2] > P99_MAX_S > max(measured[1], measured[3]), measured

    world.publish()
    world.cluster.apply(canary_with_analysis(world, prometheus), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)

    # Version 2, the slow one: rolled back by itself.
    world.publish()
    failing = world.wait_status(
        lambda s: (
            ((s.get("rollout") or {}).get("analysis") or {}).get("version") == 2
            and s["rollout"]["analysis"].get("failures", 0) >= 1
        ),
        "the first failed measurement of version 2",
        timeout=120,
    )
    first = failing["rollout"]["analysis"]
    assert first["failures"] == 1, f"the first failure was not seen on its own: {first}"
    [result] = first["results"]
    assert (result["metric"], result["verdict"]) == ("p99", "Failed")
    assert result["value"] > P99_MAX_S
    first_failed_at = _stamp(first["time"])

    # The bound is a deadline on evidence: the wait ends when the rollback is seen.
    status = world.wait_status(
        lambda s: (s.get("rollout") or {}).get("phase") == "RolledBack",
        f"version 2 rolled back within {ROLLBACK_BOUND_S}s of its first failed measurement",
        timeout=max(1.0, first_failed_at + ROLLBACK_BOUND_S - time.time()),
    )
    rolled_back_after = time.time() - first_failed_at
    print(f"\nrolled back {rolled_back_after:.1f}s after the first failed measurement")
    assert rolled_back_after <= ROLLBACK_BOUND_S

    rollout = status["rollout"]
    assert rollout["reason"] == "AnalysisFailed"
    [rejected] = [v for v in status["versions"] if v["number"] == 2]
    assert (rejected["state"], rejected["reason"]) == ("Rejected", "AnalysisFailed")
    assert "p99" in rejected["message"] and "above max 0.1" in rejected["message"], rejected
    events = [e for e in world.events() if e["reason"] == "RolledBack"]
    assert [e["type"] for e in events] == ["Warning"]
    assert "version 2 was rolled back" in events[0]["message"]
    world.wait_status(is_ready_with(1), "version 1 Ready on every replica again", timeout=90)

    # Version 3, as fast as version 1: promoted through every step.
    world.publish()
    steps_seen: set[int] = set()

    def promoted(s: dict[str, Any]) -> bool:
        rollout = s.get("rollout") or {}
        if rollout.get("canaryVersion") == 3 and rollout.get("step"):
            steps_seen.add(rollout["step"])
        return is_ready_with(3)(s) and rollout.get("phase") == "Promoted"

    status = world.wait_status(promoted, "version 3 promoted", timeout=180)
    assert steps_seen == {1, 2}
    assert condition_of(status, "Reconciling")["status"] == "False"
    analysis = status["rollout"].get("analysis") or {}
    assert analysis.get("version") == 3 and analysis.get("failures", 0) < FAILURE_LIMIT

    # The load was served throughout by every stand-in.
    for version, load in stand_ins.items():
        assert load.statuses and set(load.statuses) == {200}, (version, set(load.statuses))
