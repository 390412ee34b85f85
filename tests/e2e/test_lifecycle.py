"""The whole lifecycle on one machine: the operator starts a training Job, a real trainer
trains the digits example and publishes it to S3, the operator gates the version and rolls it
out, and a real `modelship serve` of that version answers predictions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from modelship.dev.s3 import free_port
from modelship.dev.simulation import TRAIN_FAIL_IMAGE, TRAINER_EXIT_ANNOTATION, TRAINER_IMAGE
from tests.cluster_fixtures import wait_for
from tests.integration.operator_env import ModelWorld, condition_of, is_ready_with

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]


def modelship(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelship", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )


def test_train_gate_roll_out_and_serve(operating: ModelWorld, tmp_path: Path) -> None:
    world = operating
    md = world.model_deployment().obj()
    md["spec"]["training"] = {
        "entrypoint": "digits_entrypoint:train",
        "gate": {"metric": "accuracy", "min": 0.5},
        # kwok plays the Job's pod, which exits once told the version is published.
        "image": TRAINER_IMAGE,
    }
    world.cluster.apply(md, namespace=world.namespace)

    # The operator chooses version 1 and creates its training Job (no version exists yet).
    status = world.wait_status(
        lambda s: (s.get("training") or {}).get("jobName"),
        "a training run recorded in status.training",
    )
    run = status["training"]
    assert run["version"] == 1 and run["jobName"] == "digits-train-1"
    assert status["phase"] == "Training"
    job = world.cluster.get("job", "digits-train-1", world.namespace)
    assert job is not None
    assert job["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"

    # The trainer runs for real here (kwok only plays the Job's pod), as the Job would run it.
    env = {
        **os.environ,
        **world.s3.env(),
        "PYTHONPATH": os.pathsep.join(
            [str(REPO / "tests" / "e2e"), str(REPO / "examples" / "digits")]
        ),
        "MODELSHIP_TRAINING_JOB": run["jobName"],
        "MODELSHIP_TERMINATION_LOG": str(tmp_path / "termination-log"),
    }
    trained = modelship(
        "train",
        "--entrypoint",
        "digits_entrypoint:train",
        "--output",
        world.uri,
        "--version",
        str(run["version"]),
        env=env,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    # The trainer exits after publishing: only now does the Job's pod complete.
    world.cluster.kubectl(
        "annotate", "pods", "-l", "batch.kubernetes.io/job-name=digits-train-1",
        f"{TRAINER_EXIT_ANNOTATION}=true", "-n", world.namespace,
    )  # fmt: skip

    status = world.wait_status(is_ready_with(1), "version 1 gated and rolled out", timeout=90)
    assert condition_of(status, "ArtifactReady")["status"] == "True"
    status = world.wait_status(
        lambda s: (s.get("training") or {}).get("metrics"), "the run's metrics in status.training"
    )
    assert status["training"]["state"] == "Succeeded"
    accuracy = status["training"]["metrics"]["accuracy"]
    assert accuracy >= 0.5

    # A real server of that version answers predictions that match the labels.
    dest = tmp_path / "models" / "digits" / "1"
    pulled = modelship("pull", world.uri, "--version", "1", str(dest), env=env, timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelship",
            "serve",
            "--model-name",
            "digits",
            "--model-base-path",
            str(dest.parent),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def ready() -> bool:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/v2/health/ready", timeout=2
                ) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for(ready, timeout=120, what="the server to be ready")
        from sklearn.datasets import load_digits

        digits = load_digits()
        rows = (digits.data[:50] / 16.0).astype("float32").tolist()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/models/digits:predict",
            data=json.dumps({"instances": rows}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
        guessed = [max(range(10), key=lambda k, p=p: p[k]) for p in predictions]
        right = sum(g == t for g, t in zip(guessed, digits.target[:50], strict=True))
        assert right >= 40, f"only {right}/50 digits recognised"
    finally:
        server.terminate()
        server.wait(30)


def test_a_failing_training_run_is_reported_and_not_retried(operating: ModelWorld) -> None:
    world = operating
    md = world.model_deployment().obj()
    md["spec"]["training"] = {"entrypoint": "digits_entrypoint:train", "image": TRAIN_FAIL_IMAGE}
    world.cluster.apply(md, namespace=world.namespace)
    status = world.wait_status(
        lambda s: (s.get("training") or {}).get("state") == "Failed",
        "the training run reported Failed",
        timeout=90,
    )
    assert status["training"]["reason"] == "TrainingFailed"
    assert "loss is NaN" in status["training"]["message"]
    # No version exists and nothing will retry the run: the resource says so, Stalled.
    status = world.wait_status(
        lambda s: condition_of(s, "Stalled").get("reason") == "TrainingFailed",
        "Stalled with reason TrainingFailed",
    )
    assert condition_of(status, "Stalled")["status"] == "True"
    assert "loss is NaN" in condition_of(status, "Ready")["message"]
    assert status["phase"] == "Failed"
    time.sleep(6)  # more than a poll interval: no second Job
    jobs = world.cluster.list("jobs", world.namespace)
    assert [j["metadata"]["name"] for j in jobs] == ["digits-train-1"]
