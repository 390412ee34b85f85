"""`modelship serve`: the serving container's command (see modelship.serving).

Flags follow TF Serving's model server where one exists (--model-name, --model-base-path,
--port, --max-batch-size, --batch-timeout-micros; MODEL_NAME / MODEL_BASE_PATH from the
environment as in its image). A failure prints `error: <Reason>: <sentence>`, writes the
same line to the Kubernetes termination log, and exits 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from modelship.api.capture import ENV_MASK_KEY, SSE_TYPES
from modelship.api.duration import parse_duration
from modelship.api.quantity import parse_bytes
from modelship.api.reasons import (
    CAPTURE_MISCONFIGURED,
    MODEL_PATH_NOT_FOUND,
    NO_PROTOCOL,
    SERVER_FAILED,
)
from modelship.artifacts import ArtifactError, parse_storage_uri
from modelship.cli.termination import fail
from modelship.serving import logs
from modelship.serving.capture import CaptureConfig
from modelship.serving.server import DEFAULT_MAX_BODY_BYTES, ModelServer, ServeError, ServerConfig


def _names(text: str | None) -> frozenset[str]:
    return frozenset(n.strip() for n in (text or "").split(",") if n.strip())


def capture_config(
    storage_uri: str,
    *,
    sample_rate: float,
    max_bytes_per_hour: str | None,
    exclude: str | None,
    mask: str | None,
    sse: str | None,
    kms_key_id: str | None,
    retention: str | None,
    queue_size: int,
    flush_seconds: float,
) -> CaptureConfig:
    """The --capture-* flags as a CaptureConfig; a flag that cannot work fails the start
    (InvalidValue / InvalidStorageUri) rather than capturing what it should not."""
    try:
        parse_storage_uri(storage_uri)
    except ArtifactError as err:
        fail(err.reason, err.message)
    masked = _names(mask)
    key = os.environ.get(ENV_MASK_KEY, "")
    if masked and not key:
        fail(
            CAPTURE_MISCONFIGURED,
            f"--capture-mask needs a key: set {ENV_MASK_KEY} (from a Secret) to a long random "
            "string.",
        )
    try:
        budget = parse_bytes(max_bytes_per_hour) if max_bytes_per_hour else None
        keep = parse_duration(retention) if retention else None
    except ValueError as err:
        fail(CAPTURE_MISCONFIGURED, f"a --capture-* flag: {err}.")
    return CaptureConfig(
        storage_uri=storage_uri,
        sample_rate=sample_rate,
        max_bytes_per_hour=budget,
        exclude=_names(exclude),
        mask=masked,
        mask_key=key.encode() if masked else None,
        sse=sse,
        kms_key_id=kms_key_id or None,
        retention=keep,
        # The pod's name (Kubernetes sets HOSTNAME to it) keeps replicas' batches apart.
        pod=os.environ.get("HOSTNAME") or "server",
        queue_size=queue_size,
        flush_seconds=flush_seconds,
    )


@click.command("serve")
@click.option(
    "--model-name",
    envvar="MODEL_NAME",
    required=True,
    help="The name in the URLs: /v1/models/<name>, /v2/models/<name>. Env MODEL_NAME.",
)
@click.option(
    "--model-base-path",
    envvar="MODEL_BASE_PATH",
    type=click.Path(path_type=Path),
    help="A SavedModel version folder, or a folder of integer version folders (the "
    "newest is served). Env MODEL_BASE_PATH. Default: /models/<name>.",
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8501,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="REST port (0: any free port; the log says which).",
)
@click.option(
    "--grpc-port",
    default=8500,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="gRPC port: TF Serving's PredictionService, the Open Inference Protocol, "
    "grpc.health.v1 and reflection (0: any free port).",
)
@click.option("--no-grpc", is_flag=True, help="Serve REST only.")
@click.option(
    "--no-rest",
    is_flag=True,
    help="Serve the model over gRPC only; the HTTP port answers health checks and /metrics.",
)
@click.option(
    "--max-batch-size",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most rows joined into one model call; 1 turns batching off.",
)
@click.option(
    "--batch-timeout-micros",
    default=2000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Longest a request waits for other requests to join its batch.",
)
@click.option(
    "--batch-wait-when-idle",
    is_flag=True,
    help="Wait --batch-timeout-micros for a batch to fill even when no other request is on "
    "its way (TF Serving's rule: fuller batches on a busy accelerator, slower answers when "
    "traffic is light). Default: wait only for requests already arriving.",
)
@click.option(
    "--max-body-bytes",
    default=DEFAULT_MAX_BODY_BYTES,
    show_default=True,
    type=click.IntRange(min=1),
    help="Larger request bodies get 413.",
)
@click.option(
    "--shutdown-timeout",
    default=25.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds in-flight requests get to finish after SIGTERM.",
)
@click.option(
    "--log-level",
    envvar="MODELSHIP_LOG_LEVEL",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--log-format",
    envvar="MODELSHIP_LOG_FORMAT",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="json: one object per line (timestamp, severity, logger, message), for log shippers.",
)
@click.option(
    "--access-log-sample",
    envvar="MODELSHIP_ACCESS_LOG_SAMPLE",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of model requests (REST and gRPC) written to the access log: 0 none, 1 all.",
)
@click.option(
    "--capture-storage-uri",
    envvar="MODELSHIP_CAPTURE_STORAGE_URI",
    help="Capture a sample of requests (inputs and outputs) to s3://bucket/prefix as "
    "gzip JSON-lines batches (docs/capture.md); S3 access from the usual AWS_* variables.",
)
@click.option(
    "--capture-sample-rate",
    envvar="MODELSHIP_CAPTURE_SAMPLE_RATE",
    default=0.01,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Share of answered model requests captured.",
)
@click.option(
    "--capture-max-bytes-per-hour",
    envvar="MODELSHIP_CAPTURE_MAX_BYTES_PER_HOUR",
    help="Most (uncompressed) bytes of records captured per clock hour, e.g. 100Mi; "
    "past it records are dropped and counted. Default: no limit.",
)
@click.option(
    "--capture-exclude",
    envvar="MODELSHIP_CAPTURE_EXCLUDE",
    help="Comma-separated input (or output) names never captured.",
)
@click.option(
    "--capture-mask",
    envvar="MODELSHIP_CAPTURE_MASK",
    help="Comma-separated input (or output) names captured as a keyed HMAC-SHA256 hash per "
    "row; the key "
    "comes from the environment variable MODELSHIP_CAPTURE_MASK_KEY.",
)
@click.option(
    "--capture-sse",
    envvar="MODELSHIP_CAPTURE_SSE",
    type=click.Choice(SSE_TYPES),
    help="Server-side encryption S3 applies to each batch.",
)
@click.option(
    "--capture-sse-kms-key-id",
    envvar="MODELSHIP_CAPTURE_SSE_KMS_KEY_ID",
    help="The KMS key for --capture-sse aws:kms (default: the bucket's).",
)
@click.option(
    "--capture-retention",
    envvar="MODELSHIP_CAPTURE_RETENTION",
    help="Delete this model's batches older than this (e.g. 720h); default: keep them.",
)
@click.option(
    "--capture-queue-size",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Records waiting to be written; past it new ones are dropped and counted.",
)
@click.option(
    "--capture-flush-seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Longest a captured record waits before its batch is written.",
)
def serve(
    model_name: str,
    model_base_path: Path | None,
    host: str,
    port: int,
    grpc_port: int,
    no_grpc: bool,
    no_rest: bool,
    max_batch_size: int,
    batch_timeout_micros: int,
    batch_wait_when_idle: bool,
    max_body_bytes: int,
    shutdown_timeout: float,
    log_level: str,
    log_format: str,
    access_log_sample: float,
    capture_storage_uri: str | None,
    capture_sample_rate: float,
    capture_max_bytes_per_hour: str | None,
    capture_exclude: str | None,
    capture_mask: str | None,
    capture_sse: str | None,
    capture_sse_kms_key_id: str | None,
    capture_retention: str | None,
    capture_queue_size: int,
    capture_flush_seconds: float,
) -> None:
    """Serve a TensorFlow SavedModel: TF Serving's REST and gRPC APIs, the Open Inference
    Protocol (REST and gRPC), /metrics."""
    logs.configure(log_level, log_format)
    # TensorFlow's C++ start-up chatter buries the server's own lines; warnings still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    config = ServerConfig(
        model_name=model_name,
        model_base_path=model_base_path or Path("/models") / model_name,
        host=host,
        port=port,
        grpc_port=None if no_grpc else grpc_port,
        rest_apis=not no_rest,
        max_batch_size=max_batch_size,
        batch_timeout_micros=batch_timeout_micros,
        batch_wait_when_idle=batch_wait_when_idle,
        max_body_bytes=max_body_bytes,
        shutdown_timeout=shutdown_timeout,
        access_log_rate=access_log_sample,
        capture=None
        if not capture_storage_uri
        else capture_config(
            capture_storage_uri,
            sample_rate=capture_sample_rate,
            max_bytes_per_hour=capture_max_bytes_per_hour,
            exclude=capture_exclude,
            mask=capture_mask,
            sse=capture_sse,
            kms_key_id=capture_sse_kms_key_id,
            retention=capture_retention,
            queue_size=capture_queue_size,
            flush_seconds=capture_flush_seconds,
        ),
    )
    if no_grpc and no_rest:
        fail(NO_PROTOCOL, "--no-grpc and --no-rest leave no way to call the model.")
    if not config.model_base_path.is_dir():
        fail(MODEL_PATH_NOT_FOUND, f"the model path {config.model_base_path} is not a folder.")

    def listening(address: str, bound_port: int) -> None:
        logging.getLogger("modelship.serve").info(
            "listening on http://%s:%d (model '%s' from %s, batches of up to %d rows, "
            "%d us timeout)",
            address,
            bound_port,
            model_name,
            config.model_base_path,
            max_batch_size,
            batch_timeout_micros,
        )

    def grpc_listening(address: str, bound_port: int) -> None:
        logging.getLogger("modelship.serve").info("gRPC on %s:%d", address, bound_port)

    try:
        code = asyncio.run(
            ModelServer(config).run(on_listening=listening, on_grpc_listening=grpc_listening)
        )
    except ServeError as err:
        fail(err.reason, err.message)
    except Exception as err:  # still say why in the termination log, for `kubectl describe`
        fail(SERVER_FAILED, f"the server stopped on an unexpected {type(err).__name__}: {err}")
    sys.exit(code)
