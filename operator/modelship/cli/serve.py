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

from modelship.api.reasons import MODEL_PATH_NOT_FOUND, NO_PROTOCOL, SERVER_FAILED
from modelship.cli.termination import fail
from modelship.serving import logs
from modelship.serving.server import DEFAULT_MAX_BODY_BYTES, ModelServer, ServeError, ServerConfig


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
