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
    peering: str | None = None
    """kopf peering name for several operator replicas (one is active); None = standalone."""
    extra: dict[str, str] = field(default_factory=dict)

    def poll_interval(self, wanted: float) -> float:
        return min(max(wanted, self.min_poll_interval), self.max_poll_interval)
