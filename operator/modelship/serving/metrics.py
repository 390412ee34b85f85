"""The server's Prometheus metrics, labelled by model, version and protocol (rest, grpc), in a
registry of its own
(so several servers can live in one process, as the tests and the benchmark do)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily

if TYPE_CHECKING:
    from modelship.serving.drift import DriftMonitor

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServingMetrics:
    """Requests, errors, latency, batch sizes, in-flight requests and readiness."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.registry = CollectorRegistry()
        labels = ["model", "version", "api", "protocol"]
        self.requests = Counter(
            "modelship_requests",
            "Requests to the model APIs, by status: the HTTP code (rest), the status name (grpc).",
            [*labels, "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "modelship_request_errors",
            "Requests answered with an error (HTTP status >= 400, gRPC status other than OK).",
            [*labels, "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelship_request_duration_seconds",
            "Time from receiving a request to answering it.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "modelship_batch_size",
            "Rows per model call (dynamic batching joins concurrent requests).",
            ["model", "version", "signature"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "modelship_queue_duration_seconds",
            "Time a request waited in the batching queue before its batch ran (a canary's "
            "queue-latency analysis reads it).",
            ["model", "version", "signature"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "modelship_requests_in_flight",
            "Model API requests received and not yet answered.",
            ["model"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "modelship_model_ready",
            "1 when the model is loaded, warmed up and taking requests.",
            ["model", "version"],
            registry=self.registry,
        )
        self.load_seconds = Gauge(
            "modelship_model_load_seconds",
            "How long loading and warming up the model took.",
            ["model", "version"],
            registry=self.registry,
        )

        capture = ["model", "version"]
        self.capture_sampled = Counter(
            "modelship_capture_sampled",
            "Requests chosen for capture and queued for writing to S3.",
            capture,
            registry=self.registry,
        )
        self.capture_written = Counter(
            "modelship_capture_written",
            "Captured requests written to S3.",
            capture,
            registry=self.registry,
        )
        self.capture_bytes = Counter(
            "modelship_capture_written_bytes",
            "Compressed bytes of captured requests written to S3.",
            capture,
            registry=self.registry,
        )
        self.capture_dropped = Counter(
            "modelship_capture_dropped",
            "Sampled requests not written, by reason: queue_full (the writer is behind), "
            "byte_budget (--capture-max-bytes-per-hour spent), write_failed (S3 refused or "
            "could not be reached), encode_failed.",
            [*capture, "reason"],
            registry=self.registry,
        )

    def observe_request(
        self,
        version: str,
        api: str,
        code: int | str,
        seconds: float,
        model: str | None = None,
        protocol: str = "rest",
    ) -> None:
        """One answered request; `code` is the HTTP status (rest) or gRPC status name."""
        model = self.model if model is None else model
        self.requests.labels(model, version, api, protocol, str(code)).inc()
        failed = code >= 400 if isinstance(code, int) else code != "OK"
        if failed:
            self.errors.labels(model, version, api, protocol, str(code)).inc()
        self.latency.labels(model, version, api, protocol).observe(seconds)

    def observe_batch(self, version: str, signature: str, rows: int) -> None:
        self.batch_size.labels(self.model, version, signature).observe(rows)

    def watch_drift(self, monitor: DriftMonitor, version: str) -> None:
        """Expose the version's drift counts (read at scrape time, nothing per request)."""
        self.registry.register(_DriftCollector(self.model, version, monitor))

    def observe_queue_wait(self, version: str, signature: str, seconds: float) -> None:
        self.queue_wait.labels(self.model, version, signature).observe(max(0.0, seconds))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _DriftCollector:
    """The served version's live bin counts since the server started, as counters a
    PromQL `increase(...[1h])` turns into a window: one series per bin of each monitored
    feature, the bin named by its upper edge (`le`, as in a Prometheus histogram)."""

    def __init__(self, model: str, version: str, monitor: DriftMonitor) -> None:
        self.model = model
        self.version = version
        self.monitor = monitor

    def describe(self) -> list[Any]:
        return []  # unchecked at registration: the series depend on the baseline

    def collect(self) -> Iterator[CounterMetricFamily]:
        labels = [self.model, self.version]
        samples = CounterMetricFamily(
            "modelship_drift_samples",
            "Rows counted for drift monitoring (the serving signature's predictions).",
            labels=["model", "version"],
        )
        samples.add_metric(labels, self.monitor.samples)
        yield samples
        dropped = CounterMetricFamily(
            "modelship_drift_dropped_batches",
            "Batches not counted for drift monitoring because the counting fell behind.",
            labels=["model", "version"],
        )
        dropped.add_metric(labels, self.monitor.dropped)
        yield dropped
        bins = CounterMetricFamily(
            "modelship_drift_bin_samples",
            "Rows whose feature fell in this bin of the version's baseline (source: input "
            "for data drift, output for prediction drift; le: the bin's upper edge).",
            labels=["model", "version", "source", "feature", "le"],
        )
        for feature, counts in self.monitor.feature_counts(self.monitor.totals.copy()):
            uppers = [repr(float(e)) for e in feature.edges] + ["+Inf"]
            for upper, count in zip(uppers, counts, strict=True):
                bins.add_metric([*labels, feature.source, feature.name, upper], count)
        yield bins
