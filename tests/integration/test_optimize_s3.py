"""`modelship optimize` as the optimization Job's pod runs it — a real subprocess, a real
SavedModel, the real S3 server — publishing a quantized version that names its source, and
failing with a reason in the termination log when it cannot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelship.artifacts import ArtifactStore, S3Settings, make_s3_client, parse_storage_uri
from tests.models import write_classifier, write_classifier_evaluation

pytestmark = [pytest.mark.integration, pytest.mark.tf]


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    termination: str


def optimize(s3_server: Any, tmp_path: Path, *args: str) -> Run:
    termination = tmp_path / f"termination-{os.urandom(3).hex()}"
    process = subprocess.run(
        [sys.executable, "-m", "modelship", "optimize", *args],
        env={**os.environ, **s3_server.env(), "MODELSHIP_TERMINATION_LOG": str(termination)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(
        process.returncode,
        process.stdout,
        process.stderr,
        termination.read_text() if termination.exists() else "",
    )


def store_for(s3_server: Any, uri: str) -> ArtifactStore:
    settings = S3Settings(
        endpoint=s3_server.endpoint,
        region=s3_server.region,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
    )
    return ArtifactStore(make_s3_client(settings), parse_storage_uri(uri))


@pytest.fixture(scope="module")
def published(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Version 1 (a SavedModel with accuracy 1.0) and its evaluation data in a fresh bucket."""
    bucket = "optimize-" + os.urandom(4).hex()
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    folder = tmp_path_factory.mktemp("classifier")
    model = write_classifier(folder / "model")
    evaluation = write_classifier_evaluation(model, folder / "eval.npz")
    client.put_object(Bucket=bucket, Key="eval/classifier.npz", Body=evaluation.read_bytes())
    uri = f"s3://{bucket}/models/classifier"
    store_for(s3_server, uri).push(model, version=1, metrics={"accuracy": 1.0})
    return uri, f"s3://{bucket}/eval/classifier.npz"


def test_optimize_publishes_the_next_version_naming_its_source(
    published: tuple[str, str], s3_server: Any, tmp_path: Path
) -> None:
    uri, evaluation = published
    run = optimize(
        s3_server, tmp_path, uri, "--source-version", "1", "--quantization", "DynamicRange",
        "--evaluation-data", evaluation, "--output", "json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    store = store_for(s3_server, uri)
    info = store.verify_version(2)  # every byte hashed, as a server's pull does
    assert info.state == "complete", info.message
    manifest = info.manifest
    assert manifest is not None
    assert manifest.framework == "tflite"
    assert [f.path for f in manifest.files] == ["model.tflite"]
    assert manifest.derived_from is not None
    assert manifest.derived_from.version == 1
    assert manifest.derived_from.method == "DynamicRange"
    assert manifest.derived_from.digest == store.check_version(1).digest
    assert manifest.derived_from.source_metrics == {"accuracy": 1.0}
    assert info.metrics["accuracy"] >= 0.95
    assert [s.name for s in manifest.signatures] == ["serving_default"]
    assert info.size < store.check_version(1).size
    report = json.loads(run.stdout)
    assert report["version"] == 2 and report["metrics"] == info.metrics
    assert run.termination.startswith(f"Published: version 2 ({info.digest}), DynamicRange")


def test_an_optimized_version_is_not_optimized_again(
    published: tuple[str, str], s3_server: Any, tmp_path: Path
) -> None:
    uri, evaluation = published
    first = optimize(
        s3_server, tmp_path, uri, "--source-version", "1", "--quantization", "Float16",
        "--evaluation-data", evaluation, "--version", "10",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = optimize(
        s3_server, tmp_path, uri, "--source-version", "10", "--quantization", "Int8",
        "--evaluation-data", evaluation,
    )  # fmt: skip
    assert again.returncode == 2
    assert again.termination.startswith("InvalidModel: version 10 is a tflite model")


def test_evaluation_data_that_does_not_fit_the_model_fails_for_good(
    published: tuple[str, str], s3_server: Any, tmp_path: Path
) -> None:
    uri, _ = published
    bucket = parse_storage_uri(uri).bucket
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, pixels=np.zeros((4, 256), np.float32))
    s3_server.client().put_object(Bucket=bucket, Key="eval/wrong.npz", Body=buffer.getvalue())
    run = optimize(
        s3_server, tmp_path, uri, "--source-version", "1", "--quantization", "Int8",
        "--evaluation-data", f"s3://{bucket}/eval/wrong.npz",
    )  # fmt: skip
    assert run.returncode == 2
    assert run.termination.startswith("InvalidEvaluationData: ")
    assert "['pixels']" in run.termination and "['x']" in run.termination
    missing = optimize(
        s3_server, tmp_path, uri, "--source-version", "1", "--quantization", "Int8",
        "--evaluation-data", f"s3://{bucket}/eval/none.npz",
    )  # fmt: skip
    assert missing.returncode == 2
    assert missing.termination.startswith("ObjectNotFound: ")
