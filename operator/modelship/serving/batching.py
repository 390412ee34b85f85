"""Dynamic batching: concurrent requests for the same signature run as one model call.

Requests wait in a queue per (signature, shape of a row). Batches run on the one model
thread, one at a time, so while a batch runs the next one fills up by itself: under load
batches grow without anyone waiting. When the model is free, a batch is cut at once unless
there is company on its way: requests the server has received and is still reading or
parsing (announced with `expecting()`). Only then does the batch wait, up to `batch_timeout`
after its first request arrived, for them to join. So a client calling one request at a time
never pays the timeout, and an idle server answers as fast as an unbatched one. With
`wait_when_idle` a batch always waits the timeout to fill (TF Serving's rule), which buys
fuller batches on an accelerator at the cost of latency when traffic is light.

Inputs are joined along axis 0 and the outputs split back by each request's row count. A
batch the model refuses is retried request by request, so one bad request cannot fail its
neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelship.serving.errors import ModelError, UnavailableError
from modelship.serving.tensors import shape_text

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray[Any, Any]]
RunModel = Callable[[str, Arrays], Arrays]
ObserveBatch = Callable[[str, int], None]
# Called with each answered request's signature, inputs and outputs (request capture).
ObserveResult = Callable[[str, Arrays, Arrays], None]
# (signature, seconds a request waited in its queue before its batch ran)
ObserveWait = Callable[[str, float], None]
# A batch's queue: the signature, and each input's name, row shape and dtype.
QueueKey = tuple[str, tuple[tuple[str, tuple[int, ...], str], ...]]


@dataclass
class _Request:
    inputs: Arrays
    rows: int
    future: asyncio.Future[Arrays]
    arrived: float


@dataclass
class _Queue:
    signature: str
    requests: deque[_Request] = field(default_factory=deque)
    rows: int = 0
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    consumer: asyncio.Task[None] | None = None


def queue_key(signature: str, inputs: Arrays) -> QueueKey:
    """Requests can share a batch only when every input agrees beyond the first axis."""
    return signature, tuple(
        (name, tuple(array.shape[1:]), array.dtype.str) for name, array in sorted(inputs.items())
    )


def split_outputs(outputs: Arrays, rows: list[int]) -> list[Arrays]:
    """Cut a batch's outputs back into one result per request (by row counts)."""
    total = sum(rows)
    offsets = np.cumsum(rows)[:-1]
    parts: dict[str, list[np.ndarray[Any, Any]]] = {}
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise ModelError(
                f"output '{name}' has shape {shape_text(array.shape)}, not one row per input "
                f"row ({total}), so a batch cannot be split back"
            )
        parts[name] = np.split(array, offsets)
    return [{name: parts[name][i] for name in outputs} for i in range(len(rows))]


# Set in the task of a request announced with Batcher.expecting(), until it is submitted.
_announced: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "announced", default=None
)


class Batcher:
    """Queues requests and runs them in batches on `executor` (one model thread)."""

    def __init__(
        self,
        run: RunModel,
        executor: Executor,
        max_batch_size: int,
        batch_timeout: float,
        observe_batch: ObserveBatch | None = None,
        wait_when_idle: bool = False,
        observe_result: ObserveResult | None = None,
        observe_wait: ObserveWait | None = None,
    ) -> None:
        self._run = run
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.batch_timeout = batch_timeout
        self.wait_when_idle = wait_when_idle
        self._observe = observe_batch or (lambda signature, rows: None)
        self.observe_result = observe_result
        self._observe_wait = observe_wait or (lambda signature, seconds: None)
        self._queues: dict[QueueKey, _Queue] = {}
        self._draining = False
        self._expected = 0  # announced requests not submitted yet

    @contextlib.contextmanager
    def expecting(self) -> Iterator[None]:
        """Announce a request that will (probably) be submitted from this task: batches
        wait for it. Leaving without submitting (a bad request) withdraws it."""
        pending = [True]
        token = _announced.set(pending)
        self._expected += 1
        try:
            yield
        finally:
            _announced.reset(token)
            if pending[0]:
                pending[0] = False
                self._expected -= 1
                self._wake_all()

    def _wake_all(self) -> None:
        for queue in self._queues.values():
            queue.wakeup.set()

    async def submit(self, signature: str, inputs: Arrays, rows: int | None) -> Arrays:
        """Run one request, batched with others when `rows` (its first dimension) is known.
        Every protocol comes through here, so this is where answered requests are observed."""
        outputs = await self._submit(signature, inputs, rows)
        if self.observe_result is not None:
            try:
                self.observe_result(signature, inputs, outputs)
            except Exception:  # an observer must never fail the request it watches
                log.exception("observing a request's result failed")
        return outputs

    async def _submit(self, signature: str, inputs: Arrays, rows: int | None) -> Arrays:
        pending = _announced.get()
        if pending is not None and pending[0]:
            pending[0] = False
            self._expected -= 1
        loop = asyncio.get_running_loop()
        if rows is None or self.max_batch_size <= 1:
            self._observe(signature, rows or 1)
            return await loop.run_in_executor(self._executor, self._run, signature, inputs)
        key = queue_key(signature, inputs)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(signature=signature)
            queue.consumer = loop.create_task(self._consume(queue), name=f"batcher {signature}")
        request = _Request(
            inputs=inputs, rows=rows, future=loop.create_future(), arrived=loop.time()
        )
        queue.requests.append(request)
        queue.rows += rows
        queue.wakeup.set()
        return await request.future

    def drain(self) -> None:
        """Stop waiting for batches to fill: run what is queued now (the server is stopping)."""
        self._draining = True
        self._wake_all()

    async def close(self) -> None:
        """Stop the queues; requests still waiting get UnavailableError."""
        for queue in self._queues.values():
            if queue.consumer is not None:
                queue.consumer.cancel()
            for request in queue.requests:
                if not request.future.done():
                    request.future.set_exception(UnavailableError("the server is shutting down"))
        consumers = [q.consumer for q in self._queues.values() if q.consumer is not None]
        await asyncio.gather(*consumers, return_exceptions=True)
        self._queues.clear()

    async def _consume(self, queue: _Queue) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not queue.requests:
                queue.wakeup.clear()
                await queue.wakeup.wait()
            deadline = queue.requests[0].arrived + self.batch_timeout
            if self._worth_waiting(queue, deadline):
                timer = loop.call_at(deadline, queue.wakeup.set)
                while self._worth_waiting(queue, deadline):
                    queue.wakeup.clear()
                    await queue.wakeup.wait()
                timer.cancel()
            batch = self._take(queue)
            if batch:
                await self._run_batch(queue.signature, batch)

    def _worth_waiting(self, queue: _Queue, deadline: float) -> bool:
        """Whether a queue whose model is free should wait for more rows."""
        if queue.rows >= self.max_batch_size or self._draining:
            return False
        if asyncio.get_running_loop().time() >= deadline:
            return False
        return self.wait_when_idle or self._expected > 0

    def _take(self, queue: _Queue) -> list[_Request]:
        batch: list[_Request] = []
        rows = 0
        while queue.requests:
            request = queue.requests[0]
            if request.future.done():  # its caller went away
                queue.requests.popleft()
                queue.rows -= request.rows
                continue
            if batch and rows + request.rows > self.max_batch_size:
                break
            queue.requests.popleft()
            queue.rows -= request.rows
            batch.append(request)
            rows += request.rows
        return batch

    async def _run_batch(self, signature: str, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        self._observe(signature, sum(r.rows for r in batch))
        started = loop.time()
        for request in batch:
            self._observe_wait(signature, started - request.arrived)
        try:
            results = await loop.run_in_executor(
                self._executor,
                self._execute,
                signature,
                [r.inputs for r in batch],
                [r.rows for r in batch],
            )
        except BaseException as err:  # the executor itself is gone
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(err)
            if isinstance(err, asyncio.CancelledError):
                raise
            return
        for request, result in zip(batch, results, strict=True):
            if request.future.done():
                continue
            if isinstance(result, BaseException):
                request.future.set_exception(result)
            else:
                request.future.set_result(result)

    def _execute(
        self, signature: str, inputs: list[Arrays], rows: list[int]
    ) -> list[Arrays | BaseException]:
        """Runs on the model thread: join, run once, split; on failure, one by one."""
        if len(inputs) == 1:
            return [self._run_alone(signature, inputs[0])]
        joined = {name: np.concatenate([i[name] for i in inputs]) for name in inputs[0]}
        try:
            return list(split_outputs(self._run(signature, joined), rows))
        except Exception as err:
            log.debug("batch of %d failed (%s); running its requests alone", len(inputs), err)
            return [self._run_alone(signature, i) for i in inputs]

    def _run_alone(self, signature: str, inputs: Arrays) -> Arrays | BaseException:
        try:
            return self._run(signature, inputs)
        except Exception as err:
            return err
