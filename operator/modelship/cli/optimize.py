"""`modelship optimize`: quantize a published version to TensorFlow Lite and publish the
result as a new version (the optimization Job's command; see docs/optimize.md).

Like `modelship train`: on failure it prints `error: <Reason>: <sentence>`, writes
`<Reason>: <sentence>` to the termination log and exits 1 (worth retrying) or 2 (a retry
would fail the same way). On success the termination log holds the `Published:` line.
"""

from __future__ import annotations

import json
import os
from typing import cast

import click

from modelship.api.reasons import OPTIMIZATION_FAILED
from modelship.api.trainer import ENV_POD_NAME, ENV_TRAINING_JOB
from modelship.artifacts import S3Settings
from modelship.cli.termination import fail, write_termination_log
from modelship.training.errors import RETRYABLE_EXIT_CODE, TrainingError
from modelship.training.optimization import OptimizationRequest, run_optimization
from modelship.training.quantization import QUANTIZATIONS, Quantization


@click.command()
@click.argument("uri")
@click.option(
    "--source-version",
    required=True,
    type=click.IntRange(min=0),
    help="The published version to optimize (a TensorFlow SavedModel).",
)
@click.option(
    "--quantization",
    required=True,
    type=click.Choice(QUANTIZATIONS),
    help="Float16, DynamicRange (int8 weights) or Int8 (weights and activations).",
)
@click.option(
    "--evaluation-data",
    required=True,
    metavar="S3_URI|PATH",
    help="A NumPy .npz file: one array per model input, by name, and optionally 'labels'. "
    "Both versions are evaluated on it; Int8 also calibrates on its first rows.",
)
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    default=None,
    help="The version number to publish (default: the highest existing + 1).",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--endpoint", default=None, help="S3 endpoint URL (default: AWS_ENDPOINT_URL).")
@click.option("--region", default=None, help="S3 region (default: AWS_REGION / boto3's chain).")
def optimize(
    uri: str,
    source_version: int,
    quantization: str,
    evaluation_data: str,
    version: int | None,
    output: str,
    endpoint: str | None,
    region: str | None,
) -> None:
    """Quantize version SOURCE_VERSION under URI and publish it as a new version whose
    manifest names its source, the method and the metrics of both on the evaluation data."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    created_by = {
        key: value
        for key, value in (
            ("optimization_job", os.environ.get(ENV_TRAINING_JOB)),
            ("pod", os.environ.get(ENV_POD_NAME)),
        )
        if value
    }
    request = OptimizationRequest(
        storage_uri=uri,
        source_version=source_version,
        method=cast(Quantization, quantization),
        evaluation_data=evaluation_data,
        version=version,
        created_by=created_by,
        s3=S3Settings(endpoint=endpoint, region=region),
    )
    try:
        result = run_optimization(request, log=_log)
    except TrainingError as err:
        fail(err.reason, err.message, err.exit_code)
    except Exception as err:  # still tell Kubernetes why
        fail(
            OPTIMIZATION_FAILED,
            f"{type(err).__name__}: {' '.join(str(err).split())}",
            RETRYABLE_EXIT_CODE,
        )
    info = result.published
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "version": info.number,
                    "digest": info.digest,
                    "size": info.size,
                    "source_version": source_version,
                    "source_size": result.source_size,
                    "method": quantization,
                    "metrics": result.metrics,
                    "source_metrics": result.source_metrics,
                },
                indent=2,
            )
        )
    line = (
        f"Published: version {info.number} ({info.digest}), {quantization} of version "
        f"{source_version}: {_text(result.metrics)} (source: {_text(result.source_metrics)})"
    )
    write_termination_log(line)
    if output != "json":
        click.echo(line)


def _text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(metrics.items())) or "no metrics"


def _log(line: str) -> None:
    click.echo(f"modelship optimize: {line}", err=True)
