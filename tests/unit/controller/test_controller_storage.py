"""When a pass between polls may reuse the store's last listing (controller/storage.py and the
pass's choice in controller/modeldeployment.py): only a listing a few seconds old, never one
older than a spec change or the end of one of our Jobs (its version must be seen), at a poll
only one of the last second; and passes that come while a listing of the same store waits for
a thread share it instead of queueing their own."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from modelship.api import parse_spec
from modelship.artifacts import S3Settings, VersionInfo, parse_storage_uri
from modelship.controller.modeldeployment import POLL_SHARE_SECONDS, listing_freshness
from modelship.controller.operator import Operator
from modelship.controller.settings import OperatorSettings
from modelship.controller.storage import Freshness, Storage, StorageLimits

T0 = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def test_a_listing_is_reused_only_within_its_window_and_after_the_last_job_end() -> None:
    fresh = Freshness(T0 + timedelta(seconds=4), within=10)
    assert fresh.allows(T0)
    assert not Freshness(T0 + timedelta(seconds=10), within=10).allows(T0)
    assert not Freshness(T0 + timedelta(seconds=1)).allows(T0)  # within 0: always list
    job_end = T0 + timedelta(seconds=1)
    after_job = Freshness(T0 + timedelta(seconds=4), within=10, not_before=job_end)
    assert not after_job.allows(T0)


def test_the_store_remembers_only_what_freshness_allows() -> None:
    storage = Storage()
    settings = S3Settings(endpoint="http://127.0.0.1:9")
    uri = parse_storage_uri("s3://models/digits")
    storage._recent[(settings, uri)] = (T0, [])
    assert storage.recent(settings, uri, Freshness(T0 + timedelta(seconds=2), within=5)) == []
    assert storage.recent(settings, uri, Freshness(T0 + timedelta(seconds=6), within=5)) is None
    other = parse_storage_uri("s3://models/other")
    assert storage.recent(settings, other, Freshness(T0, within=5)) is None


def body(generation: int, observed: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "digits", "namespace": "ns", "generation": generation},
        "status": {"observedGeneration": observed},
    }


def job(ended: str | None) -> dict[str, Any]:
    conditions = [{"type": "Complete", "status": "True", "lastTransitionTime": ended}]
    return {"status": {"conditions": conditions if ended else []}}


def test_a_pass_reuses_for_half_the_poll_at_most_and_never_across_a_spec_change() -> None:
    op = Operator(settings=OperatorSettings(), kube=None)  # type: ignore[arg-type]
    spec = parse_spec(
        {"model": {"storageUri": "s3://models/digits"}, "storage": {"pollInterval": "8s"}},
        name="digits",
    )
    steady = listing_freshness(op, body(3, 3), spec, [])
    assert steady.within == 4.0 and steady.not_before is None
    assert listing_freshness(op, body(4, 3), spec, []).within == 0
    ended = listing_freshness(op, body(3, 3), spec, [job("2026-12-06T12:00:00Z")])
    assert ended.within == 4.0 and ended.not_before == T0 + timedelta(seconds=1)
    # A Job still running: its pods may end (their version published) before the Job does.
    running = listing_freshness(op, body(3, 3), spec, [job("2026-12-06T12:00:00Z"), job(None)])
    assert running.within == 0
    # A steady resource's poll must see what the store holds now: a second's share at most.
    polled = listing_freshness(op, body(3, 3), spec, [], polled=True)
    assert polled.within == POLL_SHARE_SECONDS


class HeldListing:
    """Stands in for one S3 store whose listings wait until released (the concurrency logic is
    under test here; the listing itself is tested against a real S3 server)."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def list_versions(self) -> list[VersionInfo]:
        self.calls += 1
        self.entered.release()
        self.release.wait(5)
        return []


def test_passes_share_a_listing_that_has_not_started_but_not_one_that_has() -> None:
    storage = Storage(StorageLimits(listings_per_endpoint=1))
    held = HeldListing()
    storage.store = lambda settings, uri: held  # type: ignore[method-assign]
    settings = S3Settings(endpoint="http://127.0.0.1:9")
    uri = parse_storage_uri("s3://models/digits")

    async def scenario() -> list[Any]:
        running = asyncio.create_task(storage.list_versions(settings, uri, 5))
        assert await asyncio.to_thread(held.entered.acquire, True, 5)
        # The first listing has begun: a pass now may be after a new version was published,
        # so it lists again (queued behind the one thread), and a third joins that queue.
        second = asyncio.create_task(storage.list_versions(settings, uri, 5))
        third = asyncio.create_task(storage.list_versions(settings, uri, 5))
        await asyncio.sleep(0)
        held.release.set()
        return list(await asyncio.gather(running, second, third))

    first, second, third = asyncio.run(scenario())
    assert held.calls == 2
    assert second is third and first is not second
