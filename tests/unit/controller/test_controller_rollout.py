"""How the controller paces a canary: a new promote/abort value wakes the loop at once, and
a canary paused until promoted is polled like a steady resource."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.reconcile.modeldeployment import waits_for_a_person, wants_attention


def md(annotations: dict[str, str], rollout: dict[str, Any] | None) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": 3}
    if rollout is not None:
        status["rollout"] = rollout
    return {"metadata": {"generation": 3, "annotations": annotations}, "status": status}


@pytest.mark.parametrize(
    ("annotations", "rollout", "wakes"),
    [
        ({"modelship.io/promote": "b"}, {"phase": "Paused", "promoteSeen": "a"}, True),
        ({"modelship.io/promote": "a"}, {"phase": "Paused", "promoteSeen": "a"}, False),
        ({"modelship.io/abort": "x"}, {"phase": "Progressing"}, True),
        ({"modelship.io/promote": "b"}, None, False),  # no canary: nothing to promote
        ({}, {"phase": "Paused"}, False),
    ],
)
def test_a_new_promote_or_abort_value_wakes_the_loop(
    annotations: dict[str, str], rollout: dict[str, Any] | None, wakes: bool
) -> None:
    assert wants_attention(md(annotations, rollout)) is wakes


def test_only_a_canary_waiting_for_promotion_is_polled_like_a_steady_resource() -> None:
    assert waits_for_a_person({"rollout": {"phase": "Paused"}})
    assert not waits_for_a_person({"rollout": {"phase": "Progressing"}})
    assert not waits_for_a_person({})
