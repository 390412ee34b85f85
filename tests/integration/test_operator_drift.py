"""Drift monitoring by the operator on the real test bed: with spec.monitoring.drift it
checks the serving version against the baseline in its manifest and says so in
status.monitoring and the DataDrift condition.

The pods here are kwok's: their IPs reach no server. The first test leaves them so (no pod
answers: InsufficientSamples, naming how many were asked). The second plays the pod network
as well: the serving pod's IP is pointed at a real `modelship serve` of the digits model on
this machine (127.0.0.1, at spec.serving.port), so the real operator gathers real counts —
a shifted stream raises DriftDetected, a Warning Event and exactly one training run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.artifacts.features import make_baseline
from modelship.artifacts.savedmodel import sample_baseline
from tests.integration.operator_env import ModelWorld, condition_of, is_ready_with
from tests.integration.test_server_api import STARTUP_SECONDS, start_server
from tests.integration.test_server_lifecycle import digits_example

pytestmark = pytest.mark.integration


def monitoring_of(version: int, verdict: str) -> Callable[[dict[str, Any]], bool]:
    def check(status: dict[str, Any]) -> bool:
        monitoring = status.get("monitoring") or {}
        return monitoring.get("version") == version and monitoring.get("verdict") == verdict

    return check


def test_the_serving_version_is_checked_against_its_baseline(operating: ModelWorld) -> None:
    world = operating
    sample = np.random.default_rng(0).random((200, 4), dtype=np.float32)
    world.store().push(
        world.saved_model, metrics={"accuracy": 0.9}, baseline=make_baseline({"x": sample})
    )
    md = world.model_deployment().replicas(2).set("storage.pollInterval", "5s")
    md.set("monitoring", {"drift": {"minSamples": 50, "window": "30m"}})
    world.cluster.apply(md.obj(), namespace=world.namespace)
    world.wait_status(is_ready_with(1), "Ready on version 1")

    # The first check may come while only one pod is Ready (it runs once a version serves);
    # the next poll's check asks both.
    status = world.wait_status(
        lambda s: (
            monitoring_of(1, "InsufficientSamples")(s)
            and "of 2 serving pods" in condition_of(s, "DataDrift").get("message", "")
        ),
        "a drift check of version 1 asking both pods",
        timeout=90,
    )
    monitoring = status["monitoring"]
    assert (monitoring["samples"], monitoring["pods"], monitoring["window"]) == (0, 0, "30m")
    assert monitoring["checkedAt"]
    drift = condition_of(status, "DataDrift")
    assert (drift["status"], drift["reason"]) == ("Unknown", "InsufficientSamples")
    assert "0 of 2 serving pods answered" in drift["message"]
    assert "needs 50" in drift["message"]
    assert condition_of(status, "Ready")["status"] == "True"  # drift checks change nothing else

    # A version published without a baseline cannot be checked, and says how to fix it.
    world.publish()
    status = world.wait_status(
        monitoring_of(2, "BaselineMissing"), "a drift check of version 2", timeout=120
    )
    drift = condition_of(status, "DataDrift")
    assert (drift["status"], drift["reason"]) == ("Unknown", "BaselineMissing")
    assert "modelship push --baseline" in drift["message"]


@pytest.mark.tf
def test_shifted_traffic_raises_drift_and_starts_one_training_run(
    operating: ModelWorld, tmp_path: Path
) -> None:
    world = operating
    example = digits_example()
    model, _ = example.build_and_train(epochs=3)
    example.export_saved_model(model, tmp_path / "model")
    x_train, x_test, _, _ = example.load_digits_split()
    baseline = sample_baseline(tmp_path / "model", x_train)
    world.store().push(tmp_path / "model", metrics={"accuracy": 0.9}, baseline=baseline)
    world.store().pull(1, tmp_path / "base" / "1")
    server = start_server("digits", tmp_path / "base", tmp_path / "serve.log")
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while server.get("/v2/health/ready").status != 200:
            server.check_running()
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.2)

        md = world.model_deployment().set("serving.port", server.port)
        md.set("storage.pollInterval", "5s")
        md.set("training", {"entrypoint": "training:train"})
        drift = {"minSamples": 300, "window": "1h", "action": "Retrain", "cooldown": "24h"}
        md.set("monitoring", {"drift": drift})
        world.cluster.apply(md.obj(), namespace=world.namespace)
        world.wait_status(is_ready_with(1), "Ready on version 1")
        [pod] = world.pods()
        address = {"status": {"podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}}
        world.cluster.kubectl(
            "patch", "pod", pod["metadata"]["name"], "-n", world.namespace,
            "--subresource=status", "--type=merge", "-p", json.dumps(address),
        )  # fmt: skip

        def answered(verdict: str) -> Callable[[dict[str, Any]], bool]:
            def check(status: dict[str, Any]) -> bool:
                monitoring = status.get("monitoring") or {}
                return monitoring.get("pods") == 1 and monitoring.get("verdict") == verdict

            return check

        world.wait_status(answered("InsufficientSamples"), "the pod's counts", timeout=90)
        assert server.post(PREDICT, {"instances": x_test.tolist()}).status == 200
        status = world.wait_status(answered("NoDrift"), "no drift for digits like the training")
        assert status["monitoring"]["samples"] == len(x_test)
        assert training_jobs(world) == []

        assert server.post(PREDICT, {"instances": (1.0 - x_test).tolist()}).status == 200
        status = world.wait_status(answered("DriftDetected"), "drift for inverted digits")
        condition = condition_of(status, "DataDrift")
        assert (condition["status"], condition["reason"]) == ("True", "DriftDetected")
        assert status["monitoring"]["worstFeature"].startswith("input pixels[")
        # (kwok plays the Job through in a moment, so its reason may already be its end's.)
        status = world.wait_status(
            lambda s: (s.get("training") or {}).get("jobName") == "digits-train-2",
            "a training run started by drift",
        )
        assert status["monitoring"]["lastRetrainTime"]
        assert training_jobs(world) == ["digits-train-2"]
        [started] = [e for e in world.events() if e["reason"] == "TrainingStarted"]
        assert "spec.monitoring.drift.action Retrain" in started["message"]

        # Two more checks later (evidence that the operator looked again), still drifting:
        # no second run within the cooldown, no second Warning.
        for _ in range(2):
            seen = world.status()["monitoring"]["checkedAt"]
            world.wait_status(
                lambda s, seen=seen: s["monitoring"]["checkedAt"] != seen, "another drift check"
            )
        assert world.status()["monitoring"]["verdict"] == "DriftDetected"
        assert training_jobs(world) == ["digits-train-2"]
        warnings = [e for e in world.events() if e["reason"] == "DriftDetected"]
        assert [e["type"] for e in warnings] == ["Warning"]
    finally:
        server.terminate()


PREDICT = "/v1/models/digits:predict"


def training_jobs(world: ModelWorld) -> list[str]:
    jobs = world.cluster.list("jobs", world.namespace)
    return [j["metadata"]["name"] for j in jobs if j["metadata"]["name"].startswith("digits-train")]
