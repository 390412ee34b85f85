"""Counters read from the outside: the operator's own /metrics, and the API server's
`apiserver_request_total` (what the server itself counted, whoever asked)."""

from __future__ import annotations

import re
import urllib.request
from collections import Counter
from collections.abc import Iterable

from tests.cluster_fixtures import KubeCluster

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

# What a reconcile of a ModelDeployment could read or write.
OPERATOR_RESOURCES = frozenset(
    {"modeldeployments", "deployments", "services", "pods", "jobs", "secrets"}
)


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of the metric `name` in a Prometheus text exposition."""
    found = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match["name"] == name:
            labels = dict(_LABEL.findall(match["labels"] or ""))
            found.append((labels, float(match["value"])))
    return found


def total(text: str, name: str, **wanted: str) -> float:
    return sum(
        value
        for labels, value in samples(text, name)
        if all(labels.get(k) == v for k, v in wanted.items())
    )


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()  # type: ignore[no-any-return]


def server_requests(
    cluster: KubeCluster, resources: Iterable[str] = OPERATOR_RESOURCES
) -> Counter[tuple[str, str, str]]:
    """Requests the API server has served for these resources, by (verb, resource,
    subresource); WATCH (a long-lived stream, counted when it opens) is left out."""
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    wanted = set(resources)
    counts: Counter[tuple[str, str, str]] = Counter()
    for labels, value in samples(text, "apiserver_request_total"):
        if labels.get("resource") in wanted and labels.get("verb") != "WATCH":
            counts[(labels["verb"], labels["resource"], labels.get("subresource", ""))] += int(
                value
            )
    return counts


def difference(
    after: Counter[tuple[str, str, str]], before: Counter[tuple[str, str, str]]
) -> dict[tuple[str, str, str], int]:
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def passes(port: int) -> float:
    """Reconcile passes the operator on `port` has finished (of every ModelDeployment)."""
    return total(scrape(port), "modelship_reconciles_total")


def wait_passes(port: int, more: int, timeout: float = 30) -> None:
    """Evidence that the operator looked again, `more` times, instead of a sleep."""
    from tests.cluster_fixtures import wait_for

    def answered() -> tuple[float] | None:
        try:
            return (passes(port),)
        except OSError:  # not listening yet: the operator is still starting
            return None

    (start,) = wait_for(answered, timeout=timeout, what="the operator's /metrics")
    wait_for(lambda: passes(port) >= start + more, timeout=timeout, what=f"{more} more passes")
