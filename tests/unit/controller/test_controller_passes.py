"""How passes are spent when many resources converge at once (controller/modeldeployment.py):
the changes that arrive while a pass waits for its slot are seen by that pass, and the spec is
parsed once per generation."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from modelship.controller.cache import ObjectCache
from modelship.controller.kube import Kube
from modelship.controller.modeldeployment import bounded_pass, parse
from modelship.controller.operator import Operator
from modelship.controller.settings import OperatorSettings


def operator(slots: int = 1) -> Operator:
    cache = ObjectCache({"model_deployments": {}})  # no resource: a pass returns at once
    return Operator(
        OperatorSettings(max_concurrent_reconciles=slots), kube=cast(Kube, None), cache=cache
    )


def test_changes_while_waiting_for_a_slot_are_seen_by_that_pass() -> None:
    async def scenario() -> tuple[bool, bool]:
        op = operator(slots=1)
        wakeup = asyncio.Event()
        log = logging.getLogger("test")
        await op.slots().acquire()  # every slot busy with other resources
        waiting = asyncio.create_task(bounded_pass(op, "ml", "digits", log, wakeup))
        await asyncio.sleep(0)
        wakeup.set()  # a pod changed while the pass waited its turn
        op.slots().release()
        await waiting
        absorbed = not wakeup.is_set()
        second = asyncio.create_task(bounded_pass(op, "ml", "digits", log, wakeup))
        await second
        wakeup.set()  # a change after the pass read the cache still asks for another
        return absorbed, wakeup.is_set()

    absorbed, later = asyncio.run(scenario())
    assert absorbed and later


def body(generation: int, replicas: int, uid: str = "u-1") -> dict[str, Any]:
    return {
        "metadata": {"name": "digits", "namespace": "ml", "uid": uid, "generation": generation},
        "spec": {"model": {"storageUri": "s3://models/digits"}, "serving": {"replicas": replicas}},
    }


def test_the_spec_is_parsed_again_only_when_it_changed() -> None:
    op = operator()
    calls: list[int] = []

    def counting(obj: Any) -> Any:
        calls.append(1)
        return parse(obj)

    first = op.parsed(body(1, 1), counting)
    assert op.parsed(body(1, 1), counting) is first and len(calls) == 1
    changed = op.parsed(body(2, 3), counting)
    assert len(calls) == 2 and changed.serving.replicas == 3
    # Deleted and created again under the same name: a new uid, parsed anew.
    again = op.parsed(body(2, 5, uid="u-2"), counting)
    assert len(calls) == 3 and again.serving.replicas == 5


def test_a_rollout_s_counts_wait_for_the_next_write_and_nothing_else_does() -> None:
    """controller/operator.py: a patch that only moves a rollout's counts waits until the
    interval has passed since the last status write; any other patch is written at once."""
    from modelship.controller.operator import PROGRESS_WRITE_INTERVAL

    op = operator()
    key = ("ml", "digits")
    assert op.status_write_wait(key, progress_only=True, now=100.0) == 0  # nothing written yet
    op.status_written[key] = 100.0
    assert op.status_write_wait(key, progress_only=False, now=100.5) == 0
    assert op.status_write_wait(key, progress_only=True, now=101.0) == PROGRESS_WRITE_INTERVAL - 1
    assert op.status_write_wait(key, progress_only=True, now=100.0 + PROGRESS_WRITE_INTERVAL) == 0
    assert op.status_write_wait(("ml", "other"), progress_only=True, now=101.0) == 0
    op.stop_loop(key)  # a resource deleted and made again starts with a clean slate
    assert op.status_write_wait(key, progress_only=True, now=101.0) == 0
