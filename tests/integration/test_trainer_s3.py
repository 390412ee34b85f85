"""`modelship train` as the training Job's pod runs it — a real subprocess, a real Keras
model, the real S3 server — publishing a version with its metrics, and failing with a reason
in the termination log when the entrypoint cannot produce one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelship.artifacts import (
    ArtifactStore,
    S3Settings,
    VersionInfo,
    make_s3_client,
    parse_storage_uri,
)

pytestmark = [pytest.mark.integration, pytest.mark.tf]

ENTRYPOINTS = "tests.unit.training.entrypoints"
MODEL = "models/tiny"


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    termination: str


def train(
    s3_server: Any,
    repo_root: Path,
    tmp_path: Path,
    entrypoint: str,
    output: str,
    version: int,
    *extra: str,
    env: dict[str, str] | None = None,
    name: str = "termination-log",
) -> Run:
    termination = tmp_path / name
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelship",
            "train",
            "--entrypoint",
            f"{ENTRYPOINTS}:{entrypoint}",
            "--output",
            output,
            "--version",
            str(version),
            *extra,
        ],
        cwd=repo_root,
        env={
            **os.environ,
            **s3_server.env(),
            "MODELSHIP_TERMINATION_LOG": str(termination),
            **(env or {}),
        },
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


def store_for(s3_server: Any, output: str) -> ArtifactStore:
    settings = S3Settings(
        endpoint=s3_server.endpoint,
        region=s3_server.region,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
    )
    return ArtifactStore(make_s3_client(settings), parse_storage_uri(output))


@pytest.fixture(scope="module")
def trained(
    s3_server: Any, repo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Run, str, Path, VersionInfo]:
    """One real training run publishing version 3 of a fresh bucket."""
    bucket = "trainer-" + os.urandom(4).hex()
    s3_server.client().create_bucket(Bucket=bucket)
    output = f"s3://{bucket}/{MODEL}"
    tmp_path = tmp_path_factory.mktemp("trained")
    metrics_file = tmp_path / "metrics.json"
    run = train(
        s3_server, repo_root, tmp_path, "tiny", output, 3,
        "--data", "s3://datasets/tiny", "--metrics-out", str(metrics_file),
        env={"MODELSHIP_TRAINING_JOB": "tiny-train-3", "MODELSHIP_GIT_COMMIT": "0123abc"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run, output, metrics_file, store_for(s3_server, output).check_version(3)


def test_train_publishes_the_version_with_its_metrics(
    trained: tuple[Run, str, Path, VersionInfo],
) -> None:
    run, _, metrics_file, info = trained
    assert info.state == "complete"
    assert info.manifest is not None
    assert set(info.metrics) == {"accuracy", "loss"}
    assert 0.0 <= info.metrics["accuracy"] <= 1.0
    assert json.loads(metrics_file.read_text()) == info.metrics
    assert "serving_default" in {s.name for s in info.manifest.signatures}
    assert info.manifest.created_by["training_job"] == "tiny-train-3"
    assert info.manifest.created_by["git_commit"] == "0123abc"
    assert info.manifest.created_by["entrypoint"] == f"{ENTRYPOINTS}:tiny"
    assert run.termination.startswith(f"Published: version 3 ({info.digest})")
    assert f"version 3 ({info.digest})" in run.stdout


def test_the_recorded_sample_becomes_the_versions_drift_baseline(
    trained: tuple[Run, str, Path, VersionInfo],
) -> None:
    _, _, _, info = trained
    assert info.manifest is not None and info.manifest.baseline is not None
    baseline = info.manifest.baseline
    assert baseline.samples == 64
    keys = [f.key for f in baseline.features]
    assert keys[:4] == [f"input x[{i}]" for i in range(4)]
    assert len([k for k in keys if k.startswith("output ")]) == 3  # the class probabilities


def test_a_retry_of_the_same_job_finds_its_version_published(
    trained: tuple[Run, str, Path, VersionInfo], s3_server: Any, repo_root: Path, tmp_path: Path
) -> None:
    _, output, _, info = trained
    again = train(
        s3_server, repo_root, tmp_path, "tiny", output, 3,
        env={"MODELSHIP_TRAINING_JOB": "tiny-train-3"},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "published by an earlier attempt" in again.stderr
    assert store_for(s3_server, output).check_version(3).digest == info.digest


def test_another_run_never_overwrites_a_published_version(
    trained: tuple[Run, str, Path, VersionInfo], s3_server: Any, repo_root: Path, tmp_path: Path
) -> None:
    _, output, _, info = trained
    other = train(
        s3_server, repo_root, tmp_path, "tiny", output, 3,
        env={"MODELSHIP_TRAINING_JOB": "tiny-train-3-copy"},
    )  # fmt: skip
    assert other.returncode == 2
    assert other.termination.startswith("VersionExists: version 3 of ")
    assert "error: VersionExists:" in other.stderr
    assert store_for(s3_server, output).check_version(3).digest == info.digest


def test_the_entrypoint_gets_its_context(
    s3_server: Any, s3_bucket: str, repo_root: Path, tmp_path: Path
) -> None:
    output = f"s3://{s3_bucket}/{MODEL}"
    report = tmp_path / "context.json"
    run = train(
        s3_server, repo_root, tmp_path, "report_context", output, 1,
        "--data", "s3://datasets/tiny", "--", str(report), "--epochs", "3",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(report.read_text()) == {
        "version": 1,
        "output": output,
        "data": "s3://datasets/tiny",
        "args": [str(report), "--epochs", "3"],
        "scratch_dir_writable": True,
        "is_chief": True,
        "num_workers": 1,
        "strategy": "_DefaultDistributionStrategy",
    }
    assert store_for(s3_server, output).check_version(1).metrics == {"accuracy": 0.5}


def test_a_saved_model_folder_can_be_returned(
    s3_server: Any, s3_bucket: str, repo_root: Path, tmp_path: Path
) -> None:
    output = f"s3://{s3_bucket}/{MODEL}"
    run = train(s3_server, repo_root, tmp_path, "saved_model_folder", output, 7)
    assert run.returncode == 0, run.stderr
    info = store_for(s3_server, output).check_version(7)
    assert info.state == "complete"
    assert info.metrics == {"accuracy": 1.0}


@pytest.mark.parametrize(
    ("entrypoint", "exit_code", "termination"),
    [
        (
            "fails",
            1,
            f"TrainingFailed: {ENTRYPOINTS}:fails raised ValueError: the data at "
            "s3://datasets/tiny has no rows (second line)\n",
        ),
        ("returns_nothing", 2, f"InvalidModel: {ENTRYPOINTS}:returns_nothing returned None; "),
        ("returns_bad_metrics", 2, "InvalidMetrics: "),
        ("no_such_function", 2, "EntrypointNotFound: entrypoint "),
    ],
)
def test_a_failed_run_says_why_and_publishes_nothing(
    s3_server: Any,
    s3_bucket: str,
    repo_root: Path,
    tmp_path: Path,
    entrypoint: str,
    exit_code: int,
    termination: str,
) -> None:
    output = f"s3://{s3_bucket}/{MODEL}"
    run = train(
        s3_server, repo_root, tmp_path, entrypoint, output, 1, "--data", "s3://datasets/tiny"
    )
    assert run.returncode == exit_code, run.stderr
    assert run.termination.startswith(termination)
    assert run.termination.count("\n") == 1  # one line: Kubernetes shows it whole
    assert f"error: {run.termination.strip()}" in run.stderr
    assert store_for(s3_server, output).list_versions() == []


def test_an_unreachable_bucket_fails_before_training(
    s3_server: Any, repo_root: Path, tmp_path: Path
) -> None:
    run = train(s3_server, repo_root, tmp_path, "tiny", "s3://no-such-bucket-here/m", 1)
    assert run.returncode == 2
    assert run.termination.startswith("PublishFailed: checking that version 1 of ")
    assert "BucketNotFound" in run.termination
    assert "calling" not in run.stderr  # the entrypoint never ran


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_workers_train_together_and_only_the_chief_publishes(
    s3_server: Any, s3_bucket: str, repo_root: Path, tmp_path: Path
) -> None:
    output = f"s3://{s3_bucket}/{MODEL}"
    hosts = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "modelship",
                    "train",
                    "--entrypoint",
                    f"{ENTRYPOINTS}:tiny_custom_loop",
                    "--output",
                    output,
                    "--version",
                    "2",
                ],
                cwd=repo_root,
                env={
                    **os.environ,
                    **s3_server.env(),
                    "TF_CONFIG": json.dumps(tf_config),
                    "MODELSHIP_TERMINATION_LOG": str(tmp_path / f"termination-{index}"),
                },
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    assert "MultiWorkerMirroredStrategy over 2 workers" in outputs[1][1]
    assert "not the chief: nothing to publish" in outputs[1][1]
    (published,) = store_for(s3_server, output).list_versions()
    assert (published.number, published.state) == (2, "complete")
    assert published.metrics["workers"] == 2.0  # the chief saw both workers
    assert (tmp_path / "termination-0").read_text().startswith("Published: version 2 (")
    assert not (tmp_path / "termination-1").exists()


def test_the_digits_example_trains_and_publishes_itself(
    s3_server: Any, s3_bucket: str, repo_root: Path, tmp_path: Path
) -> None:
    uri = f"s3://{s3_bucket}/models/digits"
    script = repo_root / "examples" / "digits" / "train.py"
    command = [sys.executable, str(script), "--output", str(tmp_path / "digits"), "--epochs", "2"]
    process = subprocess.run(
        [*command, "--push", uri],
        env={**os.environ, **s3_server.env()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    (published,) = store_for(s3_server, uri).list_versions()
    assert (published.number, published.state) == (1, "complete")
    assert set(published.metrics) == {"accuracy", "loss"}
    assert published.manifest is not None
    assert "serving_default" in {signature.name for signature in published.manifest.signatures}
    assert published.manifest.baseline is not None  # the drift baseline: training pixels
    assert published.manifest.baseline.feature("input pixels[0]") is not None


def test_a_training_run_reads_the_captured_requests_and_joins_labels(
    s3_server: Any, repo_root: Path, tmp_path: Path
) -> None:
    import datetime

    import numpy as np

    from modelship.artifacts.capture import CaptureStore, batch_key, encode_batch
    from modelship.serving.capture import CaptureConfig, capture_record, mask_rows

    bucket = "capture-" + os.urandom(4).hex()
    s3_server.client().create_bucket(Bucket=bucket)
    settings = S3Settings(
        endpoint=s3_server.endpoint, region=s3_server.region,
        access_key_id=s3_server.access_key, secret_access_key=s3_server.secret_key,
    )  # fmt: skip
    store = CaptureStore(parse_storage_uri(f"s3://{bucket}/captures"), settings)
    key = b"mask-key"
    config = CaptureConfig(
        storage_uri=str(store.uri), sample_rate=1, mask=frozenset({"id"}), mask_key=key
    )
    rng = np.random.default_rng(0)
    when = datetime.datetime.now(datetime.UTC)
    ids = []
    for version, batch in ((1, 0), (1, 1), (2, 2)):  # two served versions, three batches
        lines = []
        for request in range(4):
            x = rng.random((2, 4), dtype=np.float32)
            id_ = np.array([f"user-{batch}-{request}-{row}".encode() for row in range(2)], object)
            ids += mask_rows(key, "id", id_)
            record = capture_record(
                config, model="tiny", version=version, signature="serving_default",
                inputs={"x": x, "id": id_}, outputs={"y": x[:, :1]}, when=when,
            )  # fmt: skip
            lines.append(json.dumps(record).encode())
        store.put_batch(
            batch_key(store.uri, "tiny", version, when, "pod", batch), encode_batch(lines)
        )
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({hashed: i % 3 for i, hashed in enumerate(ids[::2])}))

    output = f"s3://{bucket}/{MODEL}"
    run = train(
        s3_server, repo_root, tmp_path, "from_captures", output, 1, "--data", str(labels),
        env={"MODELSHIP_CAPTURE_URI": f"s3://{bucket}/captures/tiny"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    metrics = store_for(s3_server, output).check_version(1).metrics
    assert metrics == {"captured_rows": 24.0, "labelled_rows": 12.0}
