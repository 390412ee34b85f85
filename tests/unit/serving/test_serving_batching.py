"""Dynamic batching: concurrent requests join one model call and get their own rows back.

The batch timeout is set far beyond the test's run time wherever a batch must be cut by
size or by draining, so no outcome depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import pytest

from modelship.serving.batching import Arrays, Batcher, split_outputs
from modelship.serving.errors import BadRequestError, ModelError

T = TypeVar("T")
NEVER = 3600.0  # a batch timeout no test waits for


def double(signature: str, inputs: Arrays) -> Arrays:
    """A stand-in model: y = 2x, and `seen` = how many rows the call itself received."""
    x = inputs["x"]
    if (x < 0).any():
        raise BadRequestError("negative pixels")
    return {"y": x * 2, "seen": np.full(len(x), len(x))}


def run(awaitable: Awaitable[T]) -> T:
    async def bounded() -> T:
        # A guard against a hang, not a speed check: the batches here are cut at once.
        return await asyncio.wait_for(awaitable, 60)

    return asyncio.run(bounded())


def batcher(
    max_batch_size: int, timeout: float = NEVER, wait_when_idle: bool = False
) -> tuple[Batcher, list[int]]:
    sizes: list[int] = []
    executor = ThreadPoolExecutor(max_workers=1)
    observe = lambda sig, rows: sizes.append(rows)  # noqa: E731
    return Batcher(double, executor, max_batch_size, timeout, observe, wait_when_idle), sizes


def rows(n: int, width: int = 3, start: float = 0) -> np.ndarray[Any, Any]:
    return np.arange(start, start + n * width, dtype=np.float32).reshape(n, width)


def test_concurrent_requests_join_one_batch_and_split_back() -> None:
    batch, sizes = batcher(max_batch_size=6)
    requests = [rows(1, start=0), rows(2, start=100), rows(3, start=200)]

    async def scenario() -> list[Arrays]:
        results = await asyncio.gather(*(batch.submit("s", {"x": x}, len(x)) for x in requests))
        await batch.close()
        return list(results)

    results = run(scenario())
    assert sizes == [6]
    for x, result in zip(requests, results, strict=True):
        assert result["y"].tolist() == (x * 2).tolist()
        assert result["seen"].tolist() == [6] * len(x)


def test_a_batch_never_holds_more_rows_than_the_limit() -> None:
    # Both requests are queued before the batcher looks; a zero timeout cuts at once.
    batch, sizes = batcher(max_batch_size=4, timeout=0.0)

    async def scenario() -> None:
        await asyncio.gather(*(batch.submit("s", {"x": rows(3)}, 3) for _ in range(2)))
        await batch.close()

    run(scenario())
    assert sizes == [3, 3]


def test_requests_with_different_row_shapes_never_share_a_batch() -> None:
    batch, sizes = batcher(max_batch_size=1000, timeout=0.0)

    async def scenario() -> list[Arrays]:
        results = await asyncio.gather(
            batch.submit("s", {"x": rows(1, width=3)}, 1),
            batch.submit("s", {"x": rows(1, width=4)}, 1),
        )
        await batch.close()
        return list(results)

    narrow, wide = run(scenario())
    assert narrow["y"].shape == (1, 3) and wide["y"].shape == (1, 4)
    assert sizes == [1, 1]


def test_one_bad_request_does_not_fail_its_batch() -> None:
    batch, _ = batcher(max_batch_size=2)

    async def scenario() -> list[Any]:
        results = await asyncio.gather(
            batch.submit("s", {"x": rows(1)}, 1),
            batch.submit("s", {"x": -rows(1, start=1)}, 1),
            return_exceptions=True,
        )
        await batch.close()
        return list(results)

    good, bad = run(scenario())
    assert good["y"].tolist() == [[0.0, 2.0, 4.0]]
    assert isinstance(bad, BadRequestError) and bad.message == "negative pixels"


def test_draining_runs_a_waiting_batch_at_once() -> None:
    # TF Serving's rule: the request waits for company (for ever, here) even when none comes.
    batch, sizes = batcher(max_batch_size=100, wait_when_idle=True)

    async def scenario() -> Arrays:
        pending = asyncio.ensure_future(batch.submit("s", {"x": rows(2)}, 2))
        while not sizes and not pending.done():
            await asyncio.sleep(0)
            if batch._queues and not batch._draining:
                batch.drain()  # the request waits in its queue: stop waiting for company
        result = await pending
        await batch.close()
        return result

    assert run(scenario())["seen"].tolist() == [2, 2]
    assert sizes == [2]


def test_a_client_calling_one_at_a_time_never_waits_for_the_timeout() -> None:
    # The timeout is an hour: were a lone request made to wait for company, run() would
    # give up after a minute.
    batch, sizes = batcher(max_batch_size=32)

    async def scenario() -> list[Arrays]:
        results = []
        for i in range(5):
            with batch.expecting():
                results.append(await batch.submit("s", {"x": rows(1, start=i)}, 1))
        await batch.close()
        return results

    results = run(scenario())
    assert [r["y"].tolist() for r in results] == [(rows(1, start=i) * 2).tolist() for i in range(5)]
    assert sizes == [1, 1, 1, 1, 1]


def test_a_batch_waits_for_requests_already_on_their_way() -> None:
    batch, sizes = batcher(max_batch_size=32)
    parsed = asyncio.Event()

    async def quick() -> Arrays:
        with batch.expecting():
            return await batch.submit("s", {"x": rows(1)}, 1)

    async def slow() -> Arrays:
        with batch.expecting():  # received, still being read and parsed
            await parsed.wait()
            return await batch.submit("s", {"x": rows(1, start=9)}, 1)

    async def scenario() -> None:
        first = asyncio.ensure_future(quick())
        second = asyncio.ensure_future(slow())
        for _ in range(10):  # let the batcher look at its queue of one
            await asyncio.sleep(0)
        parsed.set()
        await asyncio.gather(first, second)
        await batch.close()

    run(scenario())
    # Had the first request been cut at once, the calls would be [1, 1].
    assert sizes == [2]


def test_a_request_that_never_comes_stops_the_wait() -> None:
    batch, sizes = batcher(max_batch_size=32)
    failed = asyncio.Event()

    async def refused() -> None:
        with batch.expecting():
            await failed.wait()
            raise ValueError("a bad body: never submitted")

    async def scenario() -> Arrays:
        doomed = asyncio.ensure_future(refused())
        with batch.expecting():
            pending = asyncio.ensure_future(batch.submit("s", {"x": rows(1)}, 1))
            for _ in range(10):
                await asyncio.sleep(0)
            failed.set()
            result = await pending
        await asyncio.gather(doomed, return_exceptions=True)
        await batch.close()
        return result

    assert run(scenario())["seen"].tolist() == [1]
    assert sizes == [1]


def test_requests_without_a_batch_dimension_run_alone() -> None:
    batch, sizes = batcher(max_batch_size=8)
    result = run(batch.submit("s", {"x": rows(2)}, None))
    assert result["seen"].tolist() == [2, 2] and sizes == [2 - 1]


def test_outputs_that_lost_the_batch_dimension_cannot_be_split() -> None:
    with pytest.raises(ModelError, match="cannot be split back"):
        split_outputs({"total": np.array(5.0)}, [1, 2])
    parts = split_outputs({"y": np.arange(3)}, [1, 2])
    assert [p["y"].tolist() for p in parts] == [[0], [1, 2]]


def test_each_request_reports_how_long_it_waited_in_its_queue() -> None:
    waits: list[tuple[str, float]] = []
    executor = ThreadPoolExecutor(max_workers=1)
    batch = Batcher(double, executor, 6, NEVER, observe_wait=lambda sig, s: waits.append((sig, s)))

    async def scenario() -> None:
        await asyncio.gather(*(batch.submit("s", {"x": rows(n)}, n) for n in (1, 2, 3)))
        await batch.close()

    run(scenario())
    # One entry per request of the batch, for the signature, none negative (the queue-latency
    # a canary's analysis reads).
    assert [sig for sig, _ in waits] == ["s", "s", "s"]
    assert all(seconds >= 0 for _, seconds in waits)
