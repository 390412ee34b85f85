"""The leader-election policy (controller/leader.py `decide`), as a table: who acts, when a
standby takes over, and that it never trusts the holder's timestamps."""

from __future__ import annotations

from typing import Any

import pytest

from modelship.controller.leader import Action, LeaseTiming, Observation, decide, lease_body

TIMING = LeaseTiming(lease_duration=10, renew_deadline=7, retry_period=2)


def lease(holder: str | None, renewed: str = "2026-12-01T00:00:00.000000Z") -> dict[str, Any]:
    return {
        "metadata": {"name": "modelship", "namespace": "ops", "resourceVersion": "7"},
        "spec": {"holderIdentity": holder, "renewTime": renewed, "leaseTransitions": 2},
    }


@pytest.mark.parametrize(
    ("current", "previous", "now", "action"),
    [
        (None, None, 0, Action.CREATE),
        (lease("me"), None, 0, Action.RENEW),
        (lease("other"), None, 100, Action.WAIT),  # first sight: the clock starts now
        (lease("other"), Observation("other", "2026-12-01T00:00:00.000000Z", 95), 100, Action.WAIT),
        (
            lease("other"),
            Observation("other", "2026-12-01T00:00:00.000000Z", 90),
            100,
            Action.TAKE_OVER,
        ),
        # Renewed since we last looked: alive, whatever its timestamps say.
        (lease("other", "1999-01-01T00:00:00Z"), Observation("other", "x", 0), 100, Action.WAIT),
        (lease(None), None, 0, Action.TAKE_OVER),  # released on a clean shutdown
    ],
)
def test_who_acts(
    current: dict[str, Any] | None, previous: Observation | None, now: float, action: Action
) -> None:
    assert decide(current, "me", previous, now, TIMING)[0] is action


def test_a_standby_takes_over_one_lease_duration_after_the_last_renewal_it_saw() -> None:
    seen = None
    for now in range(0, 20, 2):  # the holder stopped renewing at 0
        action, seen = decide(lease("other"), "me", seen, float(now), TIMING)
        assert action is (Action.TAKE_OVER if now >= 10 else Action.WAIT)


def test_taking_over_counts_a_transition_and_keeps_the_version_for_concurrency() -> None:
    body = lease_body("modelship", "ops", "me", TIMING, lease("other"))
    assert body["spec"]["holderIdentity"] == "me"
    assert body["spec"]["leaseTransitions"] == 3
    assert body["spec"]["leaseDurationSeconds"] == 10
    assert body["metadata"]["resourceVersion"] == "7"
    renewed = lease_body(
        "modelship", "ops", "me", TIMING, {**body, "metadata": lease("me")["metadata"]}
    )
    assert renewed["spec"]["leaseTransitions"] == 3
    assert renewed["spec"]["acquireTime"] == body["spec"]["acquireTime"]
    assert "resourceVersion" not in lease_body("modelship", "ops", "me", TIMING, None)["metadata"]
