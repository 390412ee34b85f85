"""The operator's Prometheus metrics: reconciles, errors and durations by result, API requests,
S3 listings, leadership. (Prometheus' registry is process-wide by design; these are the only
module-level objects in controller/, and they hold counts, never state a decision reads.)"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES: Final = Counter(
    "modelship_reconciles_total", "Reconcile cycles of ModelDeployments, by result.", ["result"]
)
RECONCILE_ERRORS: Final = Counter(
    "modelship_reconcile_errors_total",
    "Reconcile cycles that failed with an unexpected error (they are retried with backoff).",
    ["error"],
)
RECONCILE_DURATION: Final = Histogram(
    "modelship_reconcile_duration_seconds",
    "Duration of one reconcile cycle in its slot (the wait for a slot aside), by result.",
    ["result"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RECONCILE_SLOT_WAIT: Final = Histogram(
    "modelship_reconcile_slot_wait_seconds",
    "How long a due reconcile cycle waited for one of the limited slots.",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
API_REQUESTS: Final = Counter(
    "modelship_api_requests_total",
    "Kubernetes API requests made by the reconcile loops (kopf's own watches excluded).",
    ["verb", "resource"],
)
API_REQUEST_DURATION: Final = Histogram(
    "modelship_api_request_duration_seconds",
    "Duration of one Kubernetes API request of the reconcile loops, by verb.",
    ["verb"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENT_LOOP_LAG: Final = Histogram(
    "modelship_event_loop_lag_seconds",
    "How late the event loop ran a timer (every watch event, pass and wake-up shares it).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
S3_LISTINGS: Final = Counter(
    "modelship_s3_listings_total",
    "Listings of a model's versions in S3 (one per reconcile pass), by result.",
    ["result"],
)
S3_LISTING_DURATION: Final = Histogram(
    "modelship_s3_listing_duration_seconds",
    "Duration of one listing of a model's versions, by result (a timeout ends at its deadline).",
    ["result"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RECONCILES_IN_FLIGHT: Final = Gauge(
    "modelship_reconciles_in_flight", "Reconcile passes running now (at most the limit)."
)
RECONCILES_WAITING: Final = Gauge(
    "modelship_reconciles_waiting", "Reconcile passes due but waiting for a free slot."
)
LEADER: Final = Gauge(
    "modelship_leader", "1 while this replica holds the leader-election Lease (or runs alone)."
)


def serve_metrics(address: str, port: int) -> None:
    if port:
        start_http_server(port, addr=address)
