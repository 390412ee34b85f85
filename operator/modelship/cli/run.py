"""`modelship run`: start the operator."""

from __future__ import annotations

import click

from modelship.api import parse_duration


def _seconds(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


@click.command()
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    envvar="MODELSHIP_NAMESPACES",
    help="Namespace to watch (repeat, or comma-separated in the env var); default: all namespaces.",
)
@click.option(
    "--server-image",
    envvar="MODELSHIP_SERVER_IMAGE",
    default="ghcr.io/modelship/server:0.1.0",
    show_default=True,
)
@click.option(
    "--trainer-image",
    envvar="MODELSHIP_TRAINER_IMAGE",
    default="ghcr.io/modelship/trainer:0.1.0",
    show_default=True,
)
@click.option(
    "--min-poll-interval",
    envvar="MODELSHIP_MIN_POLL_INTERVAL",
    default="5s",
    callback=_seconds,
    show_default=True,
)
@click.option(
    "--max-poll-interval",
    envvar="MODELSHIP_MAX_POLL_INTERVAL",
    default="1h",
    callback=_seconds,
    show_default=True,
)
@click.option(
    "--log-format",
    envvar="MODELSHIP_LOG_FORMAT",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
)
@click.option(
    "--bind-address",
    envvar="MODELSHIP_BIND_ADDRESS",
    default="0.0.0.0",
    show_default=True,
    help="Address of the metrics and health endpoints.",
)
@click.option(
    "--metrics-port",
    envvar="MODELSHIP_METRICS_PORT",
    default=8080,
    type=int,
    show_default=True,
    help="Prometheus /metrics port (0: off).",
)
@click.option(
    "--health-port",
    envvar="MODELSHIP_HEALTH_PORT",
    default=8081,
    type=int,
    show_default=True,
    help="Liveness /healthz port (0: off).",
)
@click.option(
    "--peering",
    envvar="MODELSHIP_PEERING",
    default=None,
    help="kopf peering name, for several replicas with one active (default: standalone).",
)
def run(
    namespaces: tuple[str, ...],
    server_image: str,
    trainer_image: str,
    min_poll_interval: float,
    max_poll_interval: float,
    log_format: str,
    bind_address: str,
    metrics_port: int,
    health_port: int,
    peering: str | None,
) -> None:
    """Run the operator against the cluster in KUBECONFIG (or in-cluster credentials)."""
    from modelship.controller.main import run_operator
    from modelship.controller.settings import OperatorSettings

    watched = tuple(n.strip() for item in namespaces for n in item.split(",") if n.strip())
    if min_poll_interval > max_poll_interval:
        raise click.BadParameter("--min-poll-interval is larger than --max-poll-interval")
    run_operator(
        OperatorSettings(
            namespaces=watched,
            server_image=server_image,
            trainer_image=trainer_image,
            min_poll_interval=min_poll_interval,
            max_poll_interval=max_poll_interval,
            log_format=log_format,
            bind_address=bind_address,
            metrics_port=metrics_port,
            health_port=health_port,
            peering=peering,
        )
    )
