"""A canary's analysis against real metrics: a real Prometheus (the test bed's, built from the
Go module proxy) scrapes real `modelship serve` processes, one standing in for each version
(the kwok pods serve nothing), while a steady load runs against each. A version an order of
magnitude slower, and one whose model fails for some inputs (HTTP 500), are each rolled back
by themselves within interval * failureLimit + 10 s of their first failed measurement; a good
version is promoted through every step.

The operator reads the versions from S3 (where tiny models are published as 1 to 4);
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
from tests.models import write_failing_saved_model, write_slow_saved_model

pytestmark = pytest.mark.integration

INTERVAL_S = 5
FAILURE_LIMIT = 2
ROLLBACK_BOUND_S = INTERVAL_S * FAILURE_LIMIT + 10  # the acceptance bound
GOOD, SLOW, FAILING, GOOD_AGAIN = 1, 2, 3, 4
P99_MAX_S = 0.1
"""Between the two: the tiny model answers in milliseconds, the slow one in hundreds of them
(as Prometheus measures them on the test bed's busy cores: the test checks that first)."""
SERVER_ERRORS_MAX = 0.05
CANARY = 'version="{{canary}}"'
P99_QUERY = (
    "histogram_quantile(0.99, sum by (le) ("
    f"rate(modelship_request_duration_seconds_bucket{{{CANARY}}}[15s])))"
)
# `or vector(0)`: a version without a single error has no error series at all.
SERVER_ERRORS_QUERY = (
    f'(sum(rate(modelship_request_errors_total{{{CANARY},code=~"5.."}}[15s])) or vector(0))'
    f" / sum(rate(modelship_requests_total{{{CANARY}}}[15s]))"
)
STEPS = [{"weight": 25, "pause": "5s"}, {"weight": 50, "pause": "5s"}]
FINE, FAILS = [[1.0, 2.0, 3.0, 4.0]], [[1000.0, 2.0, 3.0, 4.0]]


@dataclass
class Load:
    """Requests sent one after another to one stand-in until stopped, with their answers'
    HTTP statuses; every `bad_every`th request carries an input the failing model fails on."""

    server: ServerProcess
    bad_every: int = 0
    statuses: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        sent = 0
        while not self.stop.is_set():
            sent += 1
            bad = self.bad_every and sent % self.bad_every == 0
            try:
                reply = self.server.post(
                    "/v1/models/digits:predict", {"instances": FAILS if bad else FINE}
                )
                self.statuses.append(reply.status)
            except OSError:
                self.statuses.append(0)
            self.stop.wait(0.05)  # steady, and leaves the shared cores some room


@pytest.fixture
def stand_ins(tmp_path: Path, tiny_saved_model: Path) -> Iterator[dict[int, Load]]:
    """`modelship serve` for each version, under a steady load for the whole test: 1 and 4
    the tiny model, 2 the same answers ten times slower or more, 3 the same answers but
    failing for every fourth request's input."""
    models = {
        GOOD: tiny_saved_model,
        # Well past P99_MAX_S whatever the machine's load (at 60 a quiet machine measured
        # 0.0995 s, inside the limit's own histogram bucket).
        SLOW: write_slow_saved_model(tmp_path / "slow", matmuls=120, size=512),
        FAILING: write_failing_saved_model(tmp_path / "failing", above=100.0),
        GOOD_AGAIN: tiny_saved_model,
    }
    for version, model in models.items():
        shutil.copytree(model, tmp_path / f"base-{version}" / str(version))

    def start(version: int) -> ServerProcess:
        return start_server(
            "digits", tmp_path / f"base-{version}", tmp_path / f"serve-{version}.log"
        )

    with ThreadPoolExecutor(len(models)) as pool:
        servers = dict(zip(models, pool.map(start, models), strict=True))
    loads = {
        version: Load(server, bad_every=4 if version == FAILING else 0)
        for version, server in servers.items()
    }
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


def value_of(prometheus: PrometheusServer, query: str, version: int) -> float | None:
    result = prometheus.query(query.replace("{{canary}}", str(version)))
    if not result or result[0]["value"][1] == "NaN":
        return None
    return float(result[0]["value"][1])


def canary_with_analysis(world: ModelWorld, prometheus: PrometheusServer) -> dict[str, Any]:
    metrics = [
        {
            "name": "p99",
            "prometheus": {"address": prometheus.address, "query": P99_QUERY},
            "max": P99_MAX_S,
        },
        {
            "name": "server-errors",
            "prometheus": {"address": prometheus.address, "query": SERVER_ERRORS_QUERY},
            "max": SERVER_ERRORS_MAX,
        },
    ]
    rollout = {
        "strategy": "Canary",
        "steps": STEPS,
        "analysis": {
            "interval": f"{INTERVAL_S}s",
            "failureLimit": FAILURE_LIMIT,
            "metrics": metrics,
        },
    }
    return world.model_deployment().replicas(4).set("rollout", rollout).obj()


def _stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def publish_and_see_it_rolled_back(world: ModelWorld, version: int, metric: str) -> float:
    """Publishes `version`, waits for its canary's first failed measurement (on `metric`)
    and then for its rollback, within the issue's bound; returns the seconds between."""
    assert world.publish().number == version
    failing = world.wait_status(
        lambda s: (
            ((s.get("rollout") or {}).get("analysis") or {}).get("version") == version
            and s["rollout"]["analysis"].get("failures", 0) >= 1
        ),
        f"the first failed measurement of version {version}",
        timeout=120,
    )
    first = failing["rollout"]["analysis"]
    assert first["failures"] == 1, f"the first failure was not seen on its own: {first}"
    failed = {r["metric"]: r for r in first["results"] if r["verdict"] == "Failed"}
    assert metric in failed, first["results"]
    assert failed[metric]["value"] > failed[metric]["max"]
    first_failed_at = _stamp(first["time"])

    # The bound is a deadline on evidence: the wait ends as soon as the rollback is seen.
    status = world.wait_status(
        lambda s: (
            (s.get("rollout") or {}).get("phase") == "RolledBack"
            and s["rollout"].get("canaryVersion") in (version, None)
            and any(v["number"] == version and v["state"] == "Rejected" for v in s["versions"])
        ),
        f"version {version} rolled back within {ROLLBACK_BOUND_S}s of its first failed measurement",
        timeout=max(1.0, first_failed_at + ROLLBACK_BOUND_S - time.time()),
    )
    rolled_back_after = time.time() - first_failed_at
    print(f"\nversion {version} rolled back {rolled_back_after:.1f}s after its first failure")
    assert rolled_back_after <= ROLLBACK_BOUND_S

    assert status["rollout"]["reason"] == "AnalysisFailed"
    [rejected] = [v for v in status["versions"] if v["number"] == version]
    assert rejected["reason"] == "AnalysisFailed"
    assert f"{metric} " in rejected["message"] and "above max" in rejected["message"], rejected
    events = [e for e in world.events() if e["reason"] == "RolledBack"]
    assert any(
        e["type"] == "Warning" and f"version {version} was rolled back" in e["message"]
        for e in events
    ), events
    world.wait_status(is_ready_with(GOOD), "version 1 Ready on every replica again", timeout=90)
    return rolled_back_after


def test_slow_and_failing_versions_are_rolled_back_by_prometheus_analysis_a_good_one_promoted(
    operating: ModelWorld, stand_ins: dict[int, Load], prometheus: PrometheusServer
) -> None:
    world = operating
    # The stand-ins as Prometheus sees them: each bad version past its limit, the good
    # ones well within both.
    measured = wait_for(
        lambda: (
            (
                values := {
                    v: (
                        value_of(prometheus, P99_QUERY, v),
                        value_of(prometheus, SERVER_ERRORS_QUERY, v),
                    )
                    for v in stand_ins
                }
            )
            and all(None not in pair for pair in values.values())
            and values
        ),
        timeout=60,
        what="Prometheus to measure every stand-in",
    )
    print("\n(p99 s, 5xx share) by version, as Prometheus measures them:", measured)
    assert measured[SLOW][0] > P99_MAX_S > max(measured[GOOD][0], measured[GOOD_AGAIN][0])
    assert measured[FAILING][1] > SERVER_ERRORS_MAX, measured
    assert measured[GOOD][1] == measured[GOOD_AGAIN][1] == 0, measured

    assert world.publish().number == GOOD
    world.cluster.apply(canary_with_analysis(world, prometheus), namespace=world.namespace)
    world.wait_status(is_ready_with(GOOD), "Ready on version 1", timeout=90)

    publish_and_see_it_rolled_back(world, SLOW, "p99")
    publish_and_see_it_rolled_back(world, FAILING, "server-errors")

    # Version 4, as good as version 1: promoted through every step.
    assert world.publish().number == GOOD_AGAIN
    steps_seen: set[int] = set()

    def promoted(s: dict[str, Any]) -> bool:
        rollout = s.get("rollout") or {}
        if rollout.get("canaryVersion") == GOOD_AGAIN and rollout.get("step"):
            steps_seen.add(rollout["step"])
        return is_ready_with(GOOD_AGAIN)(s) and rollout.get("phase") == "Promoted"

    status = world.wait_status(promoted, "version 4 promoted", timeout=180)
    assert steps_seen == {1, 2}
    assert condition_of(status, "Reconciling")["status"] == "False"
    analysis = status["rollout"].get("analysis") or {}
    assert analysis.get("version") == GOOD_AGAIN
    assert analysis.get("failures", 0) < FAILURE_LIMIT
    states = {v["number"]: v["state"] for v in status["versions"]}
    assert (states[SLOW], states[FAILING]) == ("Rejected", "Rejected")

    # The load was served throughout: every answer a 200, but the failing model's 500s.
    for version, load in stand_ins.items():
        expected = {200, 500} if version == FAILING else {200}
        assert set(load.statuses) == expected, (version, set(load.statuses))
