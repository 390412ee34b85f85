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
