"""Canary rollouts on the real test bed (kwok pods): a canary that goes through its steps to
promotion within the GPU budget, and a crash-looping canary rolled back while the stable
version serves throughout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from modelship.dev.s3 import free_port
from modelship.dev.simulation import CRASHLOOP_IMAGE, NEVER_READY_IMAGE
from tests.cluster_fixtures import OperatorProcess, wait_for
from tests.integration.counters import scrape, wait_passes
from tests.integration.operator_env import OPERATOR_ENV, ModelWorld, condition_of, is_ready_with

pytestmark = pytest.mark.integration

TRACK = "modelship.io/track"
VERSION = "modelship.io/version"


def canary_md(
    world: ModelWorld, steps: list[dict[str, Any]], replicas: int = 2, pin: int | None = None
) -> dict[str, Any]:
    return (
        world.model_deployment()
        .replicas(replicas)
        .gpus(1)
        .version(pin)
        .set("rollout", {"strategy": "Canary", "steps": steps, "gpuBudget": "Fixed"})
        .obj()
    )


def rollout_phase(phase: str) -> Callable[[dict[str, Any]], bool]:
    return lambda status: (status.get("rollout") or {}).get("phase") == phase


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _holds_gpus(pod: dict[str, Any]) -> bool:
    """Bound to a node and not finished: its GPUs are taken, terminating or not."""
    phase = (pod.get("status") or {}).get("phase")
    return bool(pod["spec"].get("nodeName")) and phase not in ("Succeeded", "Failed")


def _is_canary(pod: dict[str, Any]) -> bool:
    return (pod["metadata"].get("labels") or {}).get(TRACK) == "canary"


@contextmanager
def watching_pods(world: ModelWorld) -> Iterator[list[list[dict[str, Any]]]]:
    """Lists the resource's serving pods over and over while the block runs; yields the
    list of every listing taken."""
    seen: list[list[dict[str, Any]]] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            seen.append(world.pods())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=30)


def _describe(pods: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{p['metadata']['name']} v{p['metadata']['labels'].get(VERSION)} "
        f"{(p.get('status') or {}).get('phase')} ready={_ready(p)} "
        f"node={p['spec'].get('nodeName')} deleting={bool(p['metadata'].get('deletionTimestamp'))}"
        for p in pods
    )


def _metrics_up(port: int) -> bool:
    try:
        scrape(port)
    except OSError:
        return False
    return True


def events_by_reason(world: ModelWorld) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for event in world.events():
        found.setdefault(event["reason"], []).append(event)
    return found


def modelship(world: ModelWorld, *args: str) -> str:
    """`modelship ...` as a person would run it, against the test bed's API server."""
    result = subprocess.run(
        [sys.executable, "-m", "modelship", *args],
        env={**os.environ, "KUBECONFIG": str(world.cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def annotate(world: ModelWorld, key: str, value: str) -> None:
    world.cluster.kubectl(
        "annotate", "-n", world.namespace, "md/digits", f"{key}={value}", "--overwrite"
    )


def test_a_canary_goes_through_its_steps_to_promotion_within_the_gpu_budget(
    operating: ModelWorld,
) -> None:
    world = operating
    world.publish()
    world.cluster.apply(
        canary_md(world, [{"weight": 25, "pause": "2s"}, {"weight": 50}], replicas=4),
        namespace=world.namespace,
    )
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)

    with watching_pods(world) as listings:
        world.publish()
        status = world.wait_status(
            lambda s: rollout_phase("Paused")(s) and s["rollout"].get("weight") == 50,
            "the canary of version 2 paused at step 2 (50%), waiting for promotion",
            timeout=120,
        )
        assert (status["rollout"]["step"], status["rollout"]["canaryVersion"]) == (2, 2)
        assert status["currentVersion"] == 1
        pods = [p for p in world.pods() if not p["metadata"].get("deletionTimestamp")]
        ready = sorted((p["metadata"]["labels"][VERSION], _is_canary(p)) for p in pods if _ready(p))
        assert ready == [("1", False), ("1", False), ("2", True), ("2", True)]
        assert condition_of(status, "Reconciling")["status"] == "True"

        wide = world.cluster.kubectl("get", "md", "-n", world.namespace, "-o", "wide").stdout
        header, row = (line.split() for line in wide.splitlines()[:2])
        assert (row[header.index("STEP")], row[header.index("WEIGHT")]) == ("2", "50")
        as_json = modelship(
            world, "rollout", "status", "digits", "-n", world.namespace, "-o", "json"
        )
        assert json.loads(as_json)["phase"] == "Paused"
        shown = modelship(world, "rollout", "status", "digits", "-n", world.namespace)
        assert "Phase:     Paused (WaitingForPromotion)" in shown
        promoted = modelship(world, "rollout", "promote", "digits", "-n", world.namespace)
        assert "promotion requested" in promoted
        status = world.wait_status(
            lambda s: is_ready_with(2)(s) and rollout_phase("Promoted")(s),
            "version 2 promoted to every replica",
            timeout=180,
        )
    assert status["readyReplicas"] == 4
    live = [p for p in world.pods() if not p["metadata"].get("deletionTimestamp")]
    assert {p["metadata"]["labels"][VERSION] for p in live} == {"2"}
    assert not any(_is_canary(p) for p in live)
    canary = world.cluster.get("deployment", "digits-canary", world.namespace)
    assert canary is not None and canary["spec"]["replicas"] == 0

    # The budget: 4 replicas x 1 GPU, never more GPUs held by bound pods at any listing.
    assert len(listings) > 10, "too few listings of the pods to judge the budget"
    worst = max(listings, key=lambda listing: sum(1 for p in listing if _holds_gpus(p)))
    assert sum(1 for p in worst if _holds_gpus(p)) <= 4, _describe(worst)

    reasons = events_by_reason(world)
    for reason in ("CanaryStarted", "CanaryStep", "Promoting", "Promoted"):
        assert reason in reasons, f"no {reason} Event; Events: {sorted(reasons)}"


def test_a_crash_looping_canary_is_rolled_back_and_not_tried_again(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess]
) -> None:
    port = free_port()
    world.operator = run_operator(
        "--namespace", world.namespace, env={**OPERATOR_ENV, "MODELSHIP_METRICS_PORT": str(port)}
    )
    world.publish()
    world.cluster.apply(canary_md(world, [{"weight": 50}]), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)

    with watching_pods(world) as listings:
        world.publish()
        world.wait_status(rollout_phase("Paused"), "the canary of version 2 at 50%", timeout=120)
        # The test bed crashes a pod by its image: the canary's pods of version 2 now crash,
        # as a model that fails to load would (the operator re-applies its own template only
        # when what it wants changes).
        world.cluster.kubectl(
            "patch",
            "deployment",
            "digits-canary",
            "-n",
            world.namespace,
            "--type=json",
            "-p",
            '[{"op": "replace", "path": "/spec/template/spec/containers/0/image", '
            f'"value": "{CRASHLOOP_IMAGE}"}}]',
        )
        status = world.wait_status(
            rollout_phase("RolledBack"), "the crash-looping canary rolled back", timeout=120
        )
        status = world.wait_status(
            is_ready_with(1), "version 1 Ready on every replica again", timeout=90
        )

    rollout = status["rollout"]
    assert rollout["reason"] == "CrashLoopBackOff"
    [rejected] = [v for v in status["versions"] if v["number"] == 2]
    assert rejected["state"] == "Rejected" and rejected["reason"] == "CrashLoopBackOff"
    assert status["targetVersion"] == 1
    assert condition_of(status, "Stalled")["status"] == "False"
    [event] = events_by_reason(world)["RolledBack"]
    assert event["type"] == "Warning" and "version 2 was rolled back" in event["message"]

    # Version 1 served throughout: at every listing, at least one of its pods was running
    # and not on its way out. (Readiness itself is kwok's to report: a starved test bed can
    # flip a whole node's pods to not-ready for a moment, which says nothing of the operator.)
    assert len(listings) > 10
    gaps = [
        listing
        for listing in listings
        if not any(
            p["metadata"]["labels"][VERSION] == "1"
            and not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") == "Running"
            for p in listing
        )
    ]
    assert not gaps, f"version 1 had no running pod at some moment: {_describe(gaps[0])}"

    # Not tried again: the operator looks several more times and starts no new canary.
    wait_passes(port, 5)
    status = world.status()
    assert status["rollout"]["phase"] == "RolledBack" and status["currentVersion"] == 1
    live = [p for p in world.pods() if not p["metadata"].get("deletionTimestamp")]
    assert {p["metadata"]["labels"][VERSION] for p in live} == {"1"}


def test_a_rollout_survives_an_operator_restart_then_abort_rejects_and_a_pin_retries(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess]
) -> None:
    def start() -> int:
        port = free_port()
        env = {**OPERATOR_ENV, "MODELSHIP_METRICS_PORT": str(port)}
        world.operator = run_operator("--namespace", world.namespace, env=env)
        return port

    start()
    world.publish()
    world.cluster.apply(canary_md(world, [{"weight": 50}]), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)
    world.publish()
    before = world.wait_status(rollout_phase("Paused"), "the canary paused at 50%", timeout=120)

    # A new operator process continues the same rollout at the same step.
    assert world.operator is not None
    world.operator.stop()
    port = start()
    wait_for(lambda: _metrics_up(port), timeout=60, what="the new operator's /metrics")
    wait_passes(port, 3, timeout=60)
    after = world.status()["rollout"]
    for key in ("phase", "step", "startedAt", "stepStartedAt", "canaryVersion"):
        assert after[key] == before["rollout"][key], key
    assert len(events_by_reason(world)["CanaryStarted"]) == 1

    annotate(world, "modelship.io/abort", "stop")
    status = world.wait_status(
        lambda s: rollout_phase("Aborted")(s) and is_ready_with(1)(s),
        "the aborted canary gone and version 1 on every replica",
        timeout=120,
    )
    [rejected] = [v for v in status["versions"] if v["number"] == 2]
    assert (rejected["state"], rejected["reason"]) == ("Rejected", "Aborted")
    assert "RolledBack" in events_by_reason(world)

    # A person pins the rejected version: it is tried again.
    world.cluster.apply(canary_md(world, [{"weight": 50}], pin=2), namespace=world.namespace)
    status = world.wait_status(
        lambda s: rollout_phase("Paused")(s) and s["rollout"]["startedAt"] != after["startedAt"],
        "a new canary of the pinned version 2",
        timeout=120,
    )
    assert status["rollout"]["canaryVersion"] == 2
    assert len(events_by_reason(world)["CanaryStarted"]) == 2


def test_a_surge_canary_keeps_every_stable_replica_until_promoted(operating: ModelWorld) -> None:
    world = operating
    world.publish()
    md = canary_md(world, [{"weight": 50, "pause": "1s"}], replicas=2)
    md["spec"]["rollout"]["gpuBudget"] = "Surge"
    world.cluster.apply(md, namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)

    with watching_pods(world) as listings:
        world.publish()
        status = world.wait_status(
            lambda s: is_ready_with(2)(s) and rollout_phase("Promoted")(s),
            "version 2 promoted through its one step",
            timeout=180,
        )
    assert status["readyReplicas"] == 2
    # Surge: while the canary ran, both stable replicas stayed (up to 2 + 1 canary pod + the
    # stable Deployment's own maxSurge of 1 at promotion).
    with_canary = [
        listing for listing in listings if any(_is_canary(p) and _ready(p) for p in listing)
    ]
    assert with_canary, "the canary's pod was never seen Ready"
    assert all(
        sum(1 for p in listing if _ready(p) and not _is_canary(p)) >= 2 for listing in with_canary
    )


def test_a_canary_never_ready_within_its_progress_deadline_is_rolled_back(
    operating: ModelWorld,
) -> None:
    world = operating
    world.publish()
    md = canary_md(world, [{"weight": 50}])
    md["spec"]["rollout"]["progressDeadline"] = "30s"
    world.cluster.apply(md, namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)
    world.publish()
    world.wait_status(rollout_phase("Paused"), "the canary of version 2 at 50%", timeout=120)
    # The canary's pods stop ever becoming Ready (the test bed's never-ready image).
    world.cluster.kubectl(
        "patch",
        "deployment",
        "digits-canary",
        "-n",
        world.namespace,
        "--type=json",
        "-p",
        '[{"op": "replace", "path": "/spec/template/spec/containers/0/image", '
        f'"value": "{NEVER_READY_IMAGE}"}}]',
    )
    status = world.wait_status(
        lambda s: rollout_phase("RolledBack")(s) and is_ready_with(1)(s),
        "the never-Ready canary rolled back past its 30s deadline",
        timeout=150,
    )
    assert status["rollout"]["reason"] == "ProgressDeadlineExceeded"
    [rejected] = [v for v in status["versions"] if v["number"] == 2]
    assert (rejected["state"], rejected["reason"]) == ("Rejected", "ProgressDeadlineExceeded")


def analysis(*metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "strategy": "Canary",
        "steps": [{"weight": 50, "pause": "1m"}],
        "analysis": {"interval": "10s", "metrics": list(metrics)},
    }


def test_an_analysis_with_number_and_duration_limits_is_accepted(world: ModelWorld) -> None:
    rollout = analysis(
        {"name": "error-rate", "max": 0.01},
        {"name": "latency-p99", "max": "250ms"},
        {"name": "queue-latency", "max": "50ms"},
        {
            "name": "business-kpi",
            "max": 2,
            "prometheus": {"address": "http://prometheus.monitoring:9090", "query": "sum(up)"},
        },
    )
    world.cluster.apply(
        world.model_deployment().set("rollout", rollout).obj(), namespace=world.namespace
    )

    stored = world.md()["spec"]["rollout"]

    metrics = stored["analysis"]["metrics"]
    assert [m["max"] for m in metrics] == [0.01, "250ms", "50ms", 2]
    assert stored["analysis"]["failureLimit"] == 2
    explained = world.cluster.kubectl(
        "explain", "modeldeployments.spec.rollout.analysis.metrics"
    ).stdout
    assert "error-rate (the share of requests answered with a server error)" in " ".join(
        explained.split()
    )


@pytest.mark.parametrize(
    ("rollout", "named"),
    [
        (
            {"strategy": "Canary"},
            "spec.rollout.strategy is Canary but spec.rollout.steps is empty",
        ),
        ({"strategy": "Canary", "steps": [{"weight": 0}]}, "spec.rollout.steps[0].weight"),
        ({"strategy": "Canary", "steps": [{"weight": 101}]}, "spec.rollout.steps[0].weight"),
        (
            {"strategy": "Canary", "steps": [{"weight": 10, "pause": "soon"}]},
            "spec.rollout.steps[0].pause",
        ),
        (
            {"strategy": "Canary", "steps": [{"weight": 10}], "gpuBudget": "Lots"},
            "spec.rollout.gpuBudget",
        ),
        (
            {"strategy": "Canary", "steps": [{"weight": 10}], "progressDeadline": "1s"},
            "spec.rollout.progressDeadline",
        ),
        ({"steps": [{"weight": 10}]}, "spec.rollout.steps is set but spec.rollout.strategy"),
        ({"strategy": "Recreate"}, "spec.rollout.strategy"),
        (
            {"strategy": "Canary", "steps": [{"weight": 10}], "scaleDownDelay": "1m"},
            "spec.rollout.scaleDownDelay is set but spec.rollout.strategy is not BlueGreen",
        ),
        (analysis({"name": "error-rate", "max": 0}), "spec.rollout.analysis.metrics[0].max"),
        (analysis({"name": "latency-p99", "max": "fast"}), "spec.rollout.analysis.metrics[0].max"),
        (
            analysis({"name": "business-kpi", "max": 1}),
            "spec.rollout.analysis.metrics[*].name is not a built-in metric",
        ),
        (
            analysis({"name": "error-rate", "max": 0.01}, {"name": "error-rate", "max": 0.02}),
            "spec.rollout.analysis.metrics names a metric twice",
        ),
        (
            {"analysis": {"metrics": [{"name": "error-rate", "max": 0.01}]}},
            "spec.rollout.analysis is set but spec.rollout.strategy is neither Canary nor",
        ),
    ],
)
def test_a_bad_rollout_is_refused_at_apply_with_the_field_named(
    world: ModelWorld, rollout: dict[str, Any], named: str
) -> None:
    result = world.cluster.apply(
        world.model_deployment().set("rollout", rollout).obj(),
        namespace=world.namespace,
        check=False,
    )
    assert result.returncode != 0
    assert named in result.stderr


def test_an_unreadable_canary_is_inconclusive_holds_its_pause_and_watch_follows_it(
    operating: ModelWorld,
) -> None:
    """kwok's pods answer no /metrics: each measurement is Inconclusive (never a failure, with
    failureLimit 1), so the pause holds; `rollout status --watch` prints each change."""
    world = operating
    world.publish()
    md = canary_md(world, [{"weight": 50, "pause": "2s"}])
    md["spec"]["rollout"]["analysis"] = {
        "interval": "5s",
        "failureLimit": 1,
        "metrics": [{"name": "error-rate", "max": 0.01}],
    }
    world.cluster.apply(md, namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1", timeout=90)
    command = ["rollout", "status", "digits", "-n", world.namespace, "--watch"]
    watch = subprocess.Popen(
        [sys.executable, "-m", "modelship", *command],
        env={**os.environ, "KUBECONFIG": str(world.cluster.kubeconfig)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed: list[str] = []
    reader = threading.Thread(
        target=lambda: printed.extend(iter(watch.stdout.readline, "")),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    try:
        world.publish()
        status = world.wait_status(
            lambda s: (
                (s.get("rollout") or {}).get("reason") == "WaitingForAnalysis"
                and ((s["rollout"].get("analysis") or {}).get("measurements") or 0) >= 2
            ),
            "the pause of version 2 held for a measurement that passes",
            timeout=120,
        )
        rollout = status["rollout"]
        assert (rollout["phase"], rollout["step"]) == ("Progressing", 1)
        analysis = rollout["analysis"]
        assert (analysis["verdict"], analysis["failures"]) == ("Inconclusive", 0)
        [result] = analysis["results"]
        assert "could be read" in result["message"], result
        assert condition_of(status, "Ready")["status"] != "True"
        wait_for(
            lambda: (
                any("WaitingForAnalysis" in line for line in printed)
                and any(
                    line.startswith("error-rate") and "Inconclusive" in line for line in printed
                )
            ),
            timeout=30,
            what="rollout status --watch to print the held pause and the inconclusive metric",
        )

        modelship(world, "rollout", "promote", "digits", "-n", world.namespace)
        world.wait_status(
            lambda s: is_ready_with(2)(s) and rollout_phase("Promoted")(s),
            "version 2 promoted by a person",
            timeout=180,
        )
        wait_for(
            lambda: any("Promoted" in line for line in printed),
            timeout=30,
            what="rollout status --watch to print the promotion",
        )
    finally:
        watch.terminate()
        watch.wait(20)
