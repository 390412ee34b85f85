"""What the operator reads from a serving pod's /metrics (the server's own exposition, made by
the real ServingMetrics) and from a Prometheus query answer."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.controller.podmetrics import query_value, scrape_targets, serving_counters
from modelship.serving.metrics import ServingMetrics


def exposition() -> str:
    served = ServingMetrics("digits")
    for _ in range(97):
        served.observe_request("2", "predict", 200, 0.004)
    served.observe_request("2", "predict", 503, 0.3)
    served.observe_request("2", "predict", 400, 0.001)  # the client's mistake, not the server's
    served.observe_request("2", "predict", "INTERNAL", 0.2, protocol="grpc")
    served.observe_request("1", "predict", 500, 0.2)  # another version in the same process
    served.observe_queue_wait("2", "serving_default", 0.002)
    return served.exposition().decode()


def test_a_pods_counters_are_read_for_its_version_from_the_servers_own_exposition() -> None:
    counters = serving_counters(exposition(), 2)

    assert counters.requests == 100
    assert counters.server_errors == 2  # the 503 and the gRPC INTERNAL; not the 400
    assert counters.latency.count == 100
    assert counters.queue is not None and counters.queue.count == 1


def test_a_server_whose_requests_never_queued_exports_an_empty_queue_histogram() -> None:
    served = ServingMetrics("digits")
    served.observe_request("2", "predict", 200, 0.004)  # batching off: no queue wait

    counters = serving_counters(served.exposition().decode(), 2)

    assert counters.queue is not None and counters.queue.count == 0


def test_a_server_without_the_queue_histogram_has_no_queue_latency() -> None:
    text = "\n".join(
        line for line in exposition().splitlines() if "modelship_queue_duration" not in line
    )
    assert serving_counters(text + "\n", 2).queue is None


@pytest.mark.parametrize(
    ("answer", "value", "error"),
    [
        (
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.25"]}]},
            },
            0.25,
            None,
        ),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}, 3.0, None),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, None, "no result"),
        (
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "NaN"]}]},
            },
            None,
            "NaN",
        ),
        ({"status": "error", "error": "parse error"}, None, "parse error"),
    ],
)
def test_a_prometheus_answer_gives_its_first_value_or_says_why_not(
    answer: dict[str, Any], value: float | None, error: str | None
) -> None:
    result = query_value(answer)
    assert result.value == value
    assert (error is None and result.error is None) or (error or "") in (result.error or "")


def _pod(name: str, version: str, track: str, ready: bool = True, ip: str = "10.0.0.1") -> Any:
    return {
        "metadata": {
            "name": name,
            "labels": {"modelship.io/version": version, "modelship.io/track": track},
        },
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_only_ready_pods_are_scraped_and_canary_pods_of_the_version_rolled_out() -> None:
    pods = [
        _pod("c-new", "3", "canary"),
        _pod("c-old", "2", "canary"),
        _pod("c-starting", "3", "canary", ready=False),
        _pod("s", "1", "stable"),
    ]
    names = [(name, canary) for name, _, _, canary in scrape_targets(pods, 3)]
    assert names == [("c-new", True), ("s", False)]
