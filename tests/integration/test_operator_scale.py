"""What a steady ModelDeployment costs: no Kubernetes API request at all (its reads come from
the watches, its writes happen only on change) and one S3 listing per poll, counted by the API
server itself over a window in which the operator demonstrably polled."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from modelship.dev.s3 import free_port
from tests.cluster_fixtures import OperatorProcess, wait_for
from tests.integration.counters import difference, scrape, server_requests, total
from tests.integration.operator_env import OPERATOR_ENV, ModelWorld, is_ready_with

pytestmark = pytest.mark.integration

POLLS = 3


def no_namespace_terminating(world: ModelWorld) -> bool:
    """Earlier tests' namespaces being emptied by the namespace controller are requests on the
    same resources; the window starts once they are gone."""
    phases = world.cluster.kubectl(
        "get", "namespaces", "-o", "jsonpath={.items[*].status.phase}"
    ).stdout.split()
    return "Terminating" not in phases


def test_an_idle_model_deployment_costs_no_api_request_and_one_listing_per_poll(
    world: ModelWorld, run_operator: Callable[..., OperatorProcess]
) -> None:
    port = free_port()
    world.operator = run_operator(
        "--namespace", world.namespace, env={**OPERATOR_ENV, "MODELSHIP_METRICS_PORT": str(port)}
    )
    world.publish()
    start = server_requests(world.cluster)
    world.cluster.apply(world.model_deployment().obj(), namespace=world.namespace)  # poll 5s
    world.wait_status(is_ready_with(1), "Ready on version 1")
    # The API server's counter does see the operator: creating the objects took requests.
    created = difference(server_requests(world.cluster), start)
    assert (
        created.get(("APPLY", "deployments", ""), 0) + created.get(("PATCH", "deployments", ""), 0)
        >= 1
    ), created

    def steady_passes() -> float:
        return total(scrape(port), "modelship_reconciles_total", result="steady")

    wait_for(lambda: steady_passes() >= 1, timeout=30, what="a first steady pass")
    wait_for(lambda: no_namespace_terminating(world), timeout=120, what="no namespace deleting")

    before_server = server_requests(world.cluster)
    before = scrape(port)
    started = time.monotonic()
    wait_for(
        lambda: (
            steady_passes() >= total(before, "modelship_reconciles_total", result="steady") + POLLS
        ),
        timeout=POLLS * 5 + 20,
        what=f"{POLLS} more polls",
    )
    after = scrape(port)
    after_server = server_requests(world.cluster)
    elapsed = time.monotonic() - started

    polls = total(after, "modelship_reconciles_total") - total(before, "modelship_reconciles_total")
    assert polls >= POLLS
    assert (
        total(after, "modelship_reconciles_total", result="steady")
        - total(before, "modelship_reconciles_total", result="steady")
        == polls
    ), "every pass in the window was a steady one"
    # Counted by the API server: no GET, LIST, PATCH, APPLY, POST, PUT or DELETE at all.
    assert difference(after_server, before_server) == {}, (
        f"{polls:g} polls in {elapsed:.1f}s cost API requests"
    )
    # And by the operator's own counter.
    assert total(after, "modelship_api_requests_total") == total(
        before, "modelship_api_requests_total"
    )
    listings = total(after, "modelship_s3_listings_total", result="ok") - total(
        before, "modelship_s3_listings_total", result="ok"
    )
    assert listings == polls, "one S3 listing per poll"
