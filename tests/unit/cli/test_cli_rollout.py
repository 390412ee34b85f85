"""`modelship rollout status` as a table: the steps, their weights and pods, where it stands."""

from __future__ import annotations

from modelship.cli.rollout import rollout_table


def body(status: dict[str, object] | None) -> dict[str, object]:
    return {
        "metadata": {"name": "digits", "namespace": "ml"},
        "spec": {
            "serving": {"replicas": 4},
            "rollout": {
                "strategy": "Canary",
                "steps": [{"weight": 25, "pause": "2m"}, {"weight": 50}],
            },
        },
        "status": {"rollout": status} if status else {},
    }


def test_the_table_shows_each_step_and_where_the_rollout_stands() -> None:
    table = rollout_table(
        body(
            {
                "phase": "Paused",
                "reason": "WaitingForPromotion",
                "step": 2,
                "weight": 50,
                "stableVersion": 1,
                "canaryVersion": 2,
                "stableReplicas": 2,
                "canaryReplicas": 2,
                "message": "step 2 of 2 (50%) holds until promoted.",
                "rejected": [{"number": 0, "reason": "CrashLoopBackOff"}],
            }
        )
    )
    lines = table.splitlines()
    assert "Phase:     Paused (WaitingForPromotion)" in lines
    assert "Canary:    version 2, 2 replicas" in lines
    steps = [
        line.split()
        for line in lines[lines.index(next(x for x in lines if x.startswith("STEP"))) + 1 :]
    ]
    assert steps[0] == ["1", "25%", "1", "2m", "done"]
    assert steps[1] == ["2", "50%", "2", "promote", "paused"]
    assert "Rejected:  version 0: CrashLoopBackOff" in lines


def test_no_rollout_yet() -> None:
    assert "Rollout:   none yet" in rollout_table(body(None))
