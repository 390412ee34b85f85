"""The canary analysis' scrape over real HTTP: a real aiohttp server on 127.0.0.1 exposes the
real ServingMetrics of a canary and a stable version; one pod address never answers. Two
scrapes one interval apart give the interval's numbers; the silent pod is named, not failed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from modelship.api import AnalysisVerdict, parse_spec
from modelship.controller.podmetrics import PodMetrics
from modelship.dev.s3 import free_port
from modelship.reconcile.analysis import judge
from modelship.serving.metrics import ServingMetrics

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SILENT = "192.0.2.1"  # TEST-NET-1: routed nowhere, so the scrape can only time out


def pod(name: str, version: int, track: str, ip: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"modelship.io/version": str(version), "modelship.io/track": track},
        },
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]},
    }


async def _measure() -> tuple[Any, Any, Any]:
    served = ServingMetrics("digits")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=served.exposition(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    spec = parse_spec(
        {
            "model": {"storageUri": "s3://models/digits"},
            "rollout": {
                "strategy": "Canary",
                "steps": [{"weight": 50}],
                "analysis": {
                    "interval": "10s",
                    "metrics": [
                        {"name": "error-rate", "max": 0.05},
                        {"name": "latency-p99", "max": "100ms"},
                    ],
                },
            },
        },
        name="digits",
    ).rollout.analysis
    assert spec is not None
    # One server answers for both versions (its metrics carry the version label).
    pods = [
        pod("canary-a", 2, "canary", "127.0.0.1"),
        pod("canary-b", 2, "canary", SILENT),
        pod("stable-a", 1, "stable", "127.0.0.1"),
    ]
    rollout = {"phase": "Progressing", "canaryVersion": 2, "stableVersion": 1}
    reader = PodMetrics()
    key = ("ml", "digits")
    try:
        for _ in range(50):  # before the baseline: not part of the interval
            served.observe_request("2", "predict", 500, 0.001)
        first = await reader.measure(key, spec, rollout, pods, port, NOW)
        early = await reader.measure(key, spec, rollout, pods, port, NOW + timedelta(seconds=3))
        for _ in range(90):
            served.observe_request("2", "predict", 200, 0.3)
            served.observe_request("1", "predict", 200, 0.004)
        for _ in range(10):
            served.observe_request("2", "predict", 503, 0.3)
        later = await reader.measure(key, spec, rollout, pods, port, NOW + timedelta(seconds=10))
    finally:
        await runner.cleanup()
    return first, early, (later, spec)


def test_two_scrapes_one_interval_apart_measure_the_interval_and_name_a_silent_pod() -> None:
    (baseline, due), early, ((measured, next_due), spec) = asyncio.run(_measure())

    assert baseline is None and due == NOW + timedelta(seconds=10)
    assert early == (None, NOW + timedelta(seconds=10))  # not due yet: nothing scraped
    assert measured is not None and next_due == NOW + timedelta(seconds=20)
    assert measured.canary.counters.requests == 100  # the 50 before the baseline left out
    assert measured.canary.counters.server_errors == 10
    assert measured.stable.counters.requests == 90
    assert [u.split(":")[0] for u in measured.canary.unreadable] == ["canary-b"]
    error_rate, latency = judge(spec.metrics, measured)
    assert (error_rate.verdict, error_rate.value) == (AnalysisVerdict.FAILED, 0.1)
    assert latency.verdict == AnalysisVerdict.FAILED and latency.stable_value < 0.005
