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
    "--leader-election/--no-leader-election",
    envvar="MODELSHIP_LEADER_ELECTION",
    default=False,
    show_default=True,
    help="Several replicas: only the holder of a coordination.k8s.io Lease reconciles.",
)
@click.option("--lease-name", envvar="MODELSHIP_LEASE_NAME", default="modelship", show_default=True)
@click.option(
    "--lease-namespace",
    envvar="MODELSHIP_LEASE_NAMESPACE",
    default=None,
    help="Namespace of the Lease (default: POD_NAMESPACE, else the service account's).",
)
@click.option(
    "--max-concurrent-reconciles",
    envvar="MODELSHIP_MAX_CONCURRENT_RECONCILES",
    default=16,
    type=click.IntRange(min=1),
    show_default=True,
)
@click.option(
    "--api-threads",
    envvar="MODELSHIP_API_THREADS",
    default=16,
    type=click.IntRange(min=1),
    show_default=True,
    help="Threads (and connections) for Kubernetes API calls; passes wait on them for writes.",
)
@click.option(
    "--listings-per-endpoint",
    envvar="MODELSHIP_LISTINGS_PER_ENDPOINT",
    default=4,
    type=click.IntRange(min=1),
    show_default=True,
    help="Concurrent S3 listings per S3 endpoint (each endpoint has its own threads).",
)
@click.option(
    "--clock-offset",
    envvar="MODELSHIP_CLOCK_OFFSET",
    default="0s",
    callback=_seconds,
    hidden=True,
    help="Run the operator's clock ahead (simulations and tests only).",
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
    leader_election: bool,
    lease_name: str,
    lease_namespace: str | None,
    max_concurrent_reconciles: int,
    api_threads: int,
    listings_per_endpoint: int,
    clock_offset: float,
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
            leader_election=leader_election,
            lease_name=lease_name,
            lease_namespace=lease_namespace,
            max_concurrent_reconciles=max_concurrent_reconciles,
            api_threads=api_threads,
            listings_per_endpoint=listings_per_endpoint,
            clock_offset=clock_offset,
        )
    )
