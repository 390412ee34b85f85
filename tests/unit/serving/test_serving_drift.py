"""The server's drift counts: the baseline's bins, windows of time slices, a bounded queue,
and the Prometheus series."""

from __future__ import annotations

import time

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from modelship.artifacts.features import make_baseline
from modelship.serving.drift import DriftMonitor
from modelship.serving.metrics import ServingMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def a_monitor(clock: Clock, **options: int) -> tuple[DriftMonitor, np.ndarray]:
    sample = np.random.default_rng(0).random((500, 3))
    outputs = {"score": sample.sum(axis=1, keepdims=True)}
    baseline = make_baseline({"x": sample}, outputs)
    return DriftMonitor(baseline, clock=clock, **options), sample


def test_live_rows_are_counted_in_the_baselines_bins() -> None:
    clock = Clock()
    monitor, sample = a_monitor(clock)
    monitor.submit({"x": sample}, {"score": sample.sum(axis=1, keepdims=True)})
    monitor.flush()
    summary = monitor.summary("m", 2)
    assert summary["samples"] == 500 and summary["version"] == 2
    assert [f["counts"] for f in summary["features"]] == [
        list(f.counts) for f in monitor.baseline.features
    ]
    shifted = sample + 10.0  # beyond every edge: all in the open top bin
    monitor.submit({"x": shifted}, {"score": shifted.sum(axis=1, keepdims=True)})
    monitor.flush()
    x0 = monitor.summary("m", 2)["features"][0]
    assert x0["name"] == "x[0]"
    assert x0["counts"][-1] == monitor.baseline.features[0].counts[-1] + 500


def test_a_window_holds_only_the_recent_slices() -> None:
    clock = Clock()
    monitor, sample = a_monitor(clock, slice_seconds=60, max_window=3600)
    monitor.submit({"x": sample[:100]}, {})
    monitor.flush()
    clock.now += 600  # ten minutes later
    monitor.submit({"x": sample[:30]}, {})
    monitor.flush()
    assert monitor.window(120)[0] == 30
    assert monitor.window(3600)[0] == 130
    clock.now += 3 * 3600  # the first two slices are beyond the longest window
    assert monitor.window()[0] == 0
    assert monitor.samples == 130  # the totals behind the Prometheus counters stay
    # Memory stays bounded however long it runs: at most one slice per slice length.
    for _ in range(200):
        clock.now += 60
        monitor.submit({"x": sample[:1]}, {})
    monitor.flush()
    assert len(monitor._slices) <= 3600 // 60 + 1


def test_a_full_queue_drops_whole_batches_and_counts_them() -> None:
    clock = Clock()
    monitor, sample = a_monitor(clock, queue_batches=1)
    with monitor._lock:  # the counting thread blocks on its first batch
        monitor.submit({"x": sample[:10]}, {})
        deadline = time.monotonic() + 10
        while monitor._queue.qsize() and time.monotonic() < deadline:
            time.sleep(0.01)
        monitor.submit({"x": sample[:10]}, {})  # waits in the queue
        monitor.submit({"x": sample[:10]}, {})  # no room: dropped
        assert monitor.dropped == 1
    monitor.flush()
    assert monitor.samples == 20


def test_prometheus_shows_each_bin_by_its_upper_edge() -> None:
    clock = Clock()
    monitor, sample = a_monitor(clock)
    metrics = ServingMetrics("m")
    metrics.watch_drift(monitor, "2")
    monitor.submit({"x": sample}, {"score": sample.sum(axis=1, keepdims=True)})
    monitor.flush()
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    [total] = families["modelship_drift_samples"].samples
    assert total.labels == {"model": "m", "version": "2"} and total.value == 500
    bins = [
        s
        for s in families["modelship_drift_bin_samples"].samples
        if s.labels["feature"] == "x[0]" and s.name.endswith("_total")
    ]
    assert bins[-1].labels["le"] == "+Inf"
    assert sum(s.value for s in bins) == 500
    assert {s.labels["source"] for s in families["modelship_drift_bin_samples"].samples} == {
        "input",
        "output",
    }
