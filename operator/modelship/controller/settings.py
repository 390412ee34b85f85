"""The operator's own settings: from `modelship run` flags, each with an environment variable
(so a Helm chart can set them either way)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OperatorSettings:
    """Everything the operator is told at start; the ModelDeployments say the rest."""

    namespaces: tuple[str, ...] = ()
    """Namespaces to watch; empty means every namespace (cluster-wide)."""
    server_image: str = "ghcr.io/modelship/server:0.1.0"
    """Serving image used when spec.serving.image is not set."""
    trainer_image: str = "ghcr.io/modelship/trainer:0.1.0"
    """Training image used when spec.training.image is not set."""
    min_poll_interval: float = 5.0
    """Lower bound on spec.storage.pollInterval, so one resource cannot hammer the store."""
    max_poll_interval: float = 3600.0
    """Upper bound on spec.storage.pollInterval."""
    converge_interval: float = 2.0
    """How often a resource that is converging (pods starting, rollout running) is re-read."""
    log_format: str = "text"
    """text or json."""
    bind_address: str = "0.0.0.0"
    """Where the metrics and health endpoints listen (127.0.0.1 in tests)."""
    metrics_port: int = 8080
    """Prometheus /metrics port; 0 turns metrics off."""
    health_port: int = 8081
    """kopf's liveness endpoint port (/healthz); 0 turns it off."""
    leader_election: bool = False
    """Several replicas: only the holder of the Lease `lease_name` reconciles."""
    lease_name: str = "modelship"
    lease_namespace: str | None = None
    """Where the Lease is; None = the namespace this replica runs in."""
    max_concurrent_reconciles: int = 16
    """Reconcile passes running at once (the rest wait their turn, in order)."""
    api_threads: int = 16
    """Threads for Kubernetes API calls (writes, and the Lease)."""
    listings_per_endpoint: int = 4
    """Concurrent S3 listings per S3 endpoint; each endpoint has its own threads."""
    clock_offset: float = 0.0
    """Seconds the operator's clock runs ahead of the wall clock: a simulation of a later
    time (cron schedules) for tests; 0 in production."""
    extra: dict[str, str] = field(default_factory=dict)

    def poll_interval(self, wanted: float) -> float:
        return min(max(wanted, self.min_poll_interval), self.max_poll_interval)
