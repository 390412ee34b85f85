"""The model loop closed for real, on the real node: the digits example trained by the trainer
image records its baseline, its server counts live traffic, and the operator (a process
watching the namespace) reads the pods' counts over the pod network. Digits like the training
data are no drift; inverted digits are, and with action Retrain a second training run starts,
passes the gate and its version serves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelship.dev import images, node
from tests.e2e.real_node import RealNodeBed, post_json, post_when_routed, service_ip
from tests.e2e.test_real_pods import (
    on_real_node,
    predict_url,
    ready_on,
    real_operating,
    real_world,
)
from tests.integration.operator_env import ModelWorld, condition_of

__all__ = ["real_operating", "real_world"]
pytestmark = [pytest.mark.e2e, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]


def test_inverted_digits_drift_and_retrain_to_a_version_that_serves(
    real_operating: ModelWorld, real_node: RealNodeBed
) -> None:
    world = real_operating
    md = on_real_node(world, real_node)
    md["spec"]["training"] = {
        "entrypoint": "training:train",
        "image": images.DIGITS_TRAINER_IMAGE,
        "gpu": {"count": 1, "product": node.GPU_PRODUCT},
        "tolerations": node.tolerations(),
        "gate": {"metric": "accuracy", "min": 0.8},
    }
    md["spec"]["monitoring"] = {
        "drift": {"minSamples": 300, "window": "1h", "action": "Retrain", "cooldown": "24h"}
    }
    world.cluster.apply(md, namespace=world.namespace)
    ready_on(world, 1, timeout=400)
    # The version the real trainer published carries the baseline it recorded.
    manifest = world.store().check_version(1).manifest
    assert manifest is not None and manifest.baseline is not None

    x_test = digits_test_inputs()
    url = predict_url(service_ip(world.cluster, world.namespace, "digits"))
    post_when_routed(url, {"instances": x_test[:1].tolist()})
    post_json(url, {"instances": x_test.tolist()})
    status = world.wait_status(verdict_of(1, "NoDrift"), "no drift for digits like the training")
    assert status["monitoring"]["samples"] >= len(x_test)
    assert status["training"]["version"] == 1

    post_json(url, {"instances": (1.0 - x_test).tolist()})
    status = world.wait_status(verdict_of(1, "DriftDetected"), "drift for inverted digits")
    condition = condition_of(status, "DataDrift")
    assert (condition["status"], condition["reason"]) == ("True", "DriftDetected")
    assert any(e["reason"] == "DriftDetected" and e["type"] == "Warning" for e in world.events())

    # The retraining run is a real Job on the real node; its version passes the gate and serves.
    status = ready_on(world, 2, timeout=400)
    assert status["training"]["version"] == 2
    assert status["training"]["metrics"]["accuracy"] >= 0.8
    started = [
        e
        for e in world.events()
        if e["reason"] == "TrainingStarted"
        and "spec.monitoring.drift.action Retrain" in e["message"]
    ]
    assert len(started) == 1, started
    jobs = world.cluster.list("jobs", world.namespace)
    assert sorted(j["metadata"]["name"] for j in jobs) == ["digits-train-1", "digits-train-2"]
    answer = post_json(url, {"instances": x_test[:2].tolist()})
    assert len(answer["predictions"]) == 2


def verdict_of(version: int, verdict: str) -> Callable[[dict[str, Any]], bool]:
    def check(status: dict[str, Any]) -> bool:
        monitoring = status.get("monitoring") or {}
        return monitoring.get("version") == version and monitoring.get("verdict") == verdict

    return check


def digits_test_inputs() -> np.ndarray:
    sys.path.insert(0, str(REPO / "examples" / "digits"))
    try:
        from digits import load_digits_split
    finally:
        sys.path.pop(0)
    return np.asarray(load_digits_split(seed=1)[1], dtype=np.float32)
