"""`modelship train`: the trainer a training Job's pods run (see docs/training.md).

It calls the user's entrypoint and publishes the model it returns as one version. On
failure it prints `error: <Reason>: <sentence>` to stderr, writes `<Reason>: <sentence>` to
the Kubernetes termination log, and exits 1 (worth retrying) or 2 (a retry would fail the
same way; the Job's pod failure policy then fails the Job at once).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from modelship.api.capture import ENV_CAPTURE_URI
from modelship.api.trainer import PUBLISHED_PREFIX
from modelship.artifacts import S3Settings
from modelship.cli.termination import fail, write_termination_log
from modelship.training.errors import RETRYABLE_EXIT_CODE, TRAINING_FAILED, TrainingError
from modelship.training.runtime import TrainingRequest, TrainingResult, run_training


@click.command()
@click.option(
    "--entrypoint",
    required=True,
    metavar="PKG.MODULE:FUNCTION",
    help="The training function to call with a TrainingContext.",
)
@click.option(
    "--output",
    required=True,
    metavar="S3_URI",
    help="The model's storage URI (s3://bucket/prefix/model); the version is published there.",
)
@click.option(
    "--version",
    "version",
    required=True,
    type=click.IntRange(min=1),
    help="The version number to publish (never overwritten).",
)
@click.option("--data", default=None, metavar="URI", help="The training data, for the entrypoint.")
@click.option(
    "--metrics-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the metrics as JSON to this file.",
)
@click.option(
    "--scratch-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A folder the run may write to (default: a temporary one, removed afterwards).",
)
@click.option(
    "--endpoint",
    default=None,
    help="S3 endpoint URL for S3-compatible stores (default: AWS_ENDPOINT_URL).",
)
@click.option("--region", default=None, help="S3 region (default: AWS_REGION / boto3's chain).")
@click.option(
    "--captures",
    envvar=ENV_CAPTURE_URI,
    default=None,
    metavar="S3_URI",
    help="Where this model's captured requests are, for ctx.captured_records() "
    f"(default: {ENV_CAPTURE_URI}, which the operator sets from spec.monitoring.capture).",
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def train(
    entrypoint: str,
    output: str,
    version: int,
    data: str | None,
    metrics_out: Path | None,
    scratch_dir: Path | None,
    endpoint: str | None,
    region: str | None,
    captures: str | None,
    args: tuple[str, ...],
) -> None:
    """Train with ENTRYPOINT and publish the model as VERSION under OUTPUT.

    ARGS after `--` are passed to the entrypoint (ctx.args). Several workers are described
    by TF_CONFIG; only the chief publishes.
    """
    # TensorFlow's C++ INFO lines drown the trainer's own; warnings and errors still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    request = TrainingRequest(
        entrypoint=entrypoint,
        output=output,
        version=version,
        data=data,
        args=args,
        scratch_dir=scratch_dir,
        s3=S3Settings(endpoint=endpoint, region=region),
        captures=captures or None,
    )
    try:
        result = run_training(request, log=_log)
    except TrainingError as err:
        _fail(err.reason, err.message, err.exit_code)
    except Exception as err:  # a bug of ours or of a library: still tell Kubernetes why
        _log(f"unexpected {type(err).__name__}")
        import traceback

        _log(traceback.format_exc().rstrip())
        _fail(TRAINING_FAILED, f"{type(err).__name__}: {_one_line(err)}", RETRYABLE_EXIT_CODE)
    if metrics_out is not None:
        try:
            metrics_out.write_text(json.dumps(result.metrics, indent=2, sort_keys=True) + "\n")
        except OSError as err:
            _log(f"could not write {metrics_out}: {err.strerror or err}")
    _report(result)


def _report(result: TrainingResult) -> None:
    info = result.published
    if info is None:
        click.echo(f"worker {result.task.index} finished; the chief publishes the version")
        return
    metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(result.metrics.items()))
    line = f"{PUBLISHED_PREFIX}version {info.number} ({info.digest})" + (
        f" with {metrics}" if metrics else ""
    )
    write_termination_log(line)
    click.echo(line)


def _log(line: str) -> None:
    click.echo(f"modelship train: {line}", err=True)


def _fail(reason: str, message: str, exit_code: int) -> None:
    fail(reason, message, exit_code)


def _one_line_text(text: str) -> str:
    return " ".join(text.split())


def _one_line(err: BaseException) -> str:
    return _one_line_text(str(err)) or type(err).__name__
