"""Post-training quantization on the real test bed, with the operator running as a process:
a published version starts an optimization Job; kwok completes its pod without running it,
so the test runs the Job's own command (`modelship optimize` with the Job's args, against
the real S3 server) as its pod would; the gate then serves the quantized version, or
rejects it with the numbers and keeps the source serving."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cluster_fixtures import wait_for
from tests.integration.operator_env import ModelWorld, condition_of, is_ready_with
from tests.models import write_classifier, write_classifier_evaluation

pytestmark = [pytest.mark.integration, pytest.mark.tf]

EVAL_KEY = "eval/classifier.npz"


def start(world: ModelWorld, tmp_path: Path, *, fragile: bool) -> dict[str, Any]:
    """Version 1 (serving), its evaluation data, and spec.optimize: the Job it starts."""
    model = write_classifier(tmp_path / "model", fragile=fragile)
    evaluation = write_classifier_evaluation(model, tmp_path / "eval.npz")
    world.s3.client().put_object(Bucket=world.bucket, Key=EVAL_KEY, Body=evaluation.read_bytes())
    world.store().push(model, metrics={"accuracy": 1.0})
    md = world.model_deployment().obj()
    md["spec"]["optimize"] = {
        "quantization": "DynamicRange",
        "evaluationDataUri": f"s3://{world.bucket}/{EVAL_KEY}",
        "maxMetricDrop": 0.05,
    }
    world.cluster.apply(md, namespace=world.namespace)
    status = world.wait_status(
        lambda s: (s.get("optimize") or {}).get("jobName"), "an optimization run in status"
    )
    assert status["optimize"]["sourceVersion"] == 1
    assert status["optimize"]["version"] == 2
    job = wait_for(
        lambda: world.cluster.get("job", "digits-optimize-2", world.namespace),
        timeout=30,
        what="Job digits-optimize-2",
    )
    return job


def run_the_jobs_command(world: ModelWorld, job: dict[str, Any]) -> None:
    """What the Job's pod runs, run here: the same arguments, the same store."""
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["modelship"]
    process = subprocess.run(
        [sys.executable, "-m", "modelship", *container["args"]],
        env={**os.environ, **world.s3.env(), "MODELSHIP_TERMINATION_LOG": os.devnull},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr


def test_a_quantized_version_within_the_allowed_drop_is_served(
    operating: ModelWorld, tmp_path: Path
) -> None:
    world = operating
    job = start(world, tmp_path, fragile=False)
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][:6] == [
        "optimize", world.uri, "--source-version", "1", "--quantization", "DynamicRange",
    ]  # fmt: skip
    run_the_jobs_command(world, job)

    status = world.wait_status(is_ready_with(2), "the quantized version 2 serving", timeout=120)
    status = world.wait_status(
        lambda s: (s.get("optimize") or {}).get("state") == "Succeeded", "the run judged"
    )
    assert status["optimize"]["reason"] == "OptimizationPublished"
    assert status["optimize"]["sourceMetrics"] == {"accuracy": 1.0}
    assert status["optimize"]["metrics"]["accuracy"] >= 0.95
    assert world.pods()[0]["metadata"]["labels"]["modelship.io/version"] == "2"
    reasons = {e["reason"] for e in world.events()}
    assert {"OptimizationStarted", "OptimizationPublished"} <= reasons
    # Version 1 is optimized once: no second Job for it.
    jobs = world.cluster.list("jobs", world.namespace)
    assert [j["metadata"]["name"] for j in jobs] == ["digits-optimize-2"]


def test_a_quantization_that_loses_too_much_is_rejected_and_never_served(
    operating: ModelWorld, tmp_path: Path
) -> None:
    world = operating
    job = start(world, tmp_path, fragile=True)
    world.wait_status(is_ready_with(1), "version 1 serving meanwhile", timeout=120)
    run_the_jobs_command(world, job)

    status = world.wait_status(
        lambda s: (s.get("optimize") or {}).get("state") == "Rejected", "the run rejected"
    )
    assert status["optimize"]["reason"] == "OptimizationRejected"
    message = status["optimize"]["message"]
    assert "version 2 (DynamicRange of version 1) has accuracy" in message
    assert "against 1 for version 1" in message and "maxMetricDrop 0.05" in message
    assert status["currentVersion"] == 1
    # Where people look first: the Ready condition names the held-back version and why.
    ready = world.wait_status(
        lambda s: "DynamicRange of version 1" in condition_of(s, "Ready").get("message", ""),
        "the Ready condition to explain the rejection",
    )
    assert "Version 1 keeps serving" in condition_of(ready, "Ready")["message"]
    assert {p["metadata"]["labels"]["modelship.io/version"] for p in world.pods()} == {"1"}
    rejected = [e for e in world.events() if e["reason"] == "OptimizationRejected"]
    assert rejected and rejected[0]["type"] == "Warning"
