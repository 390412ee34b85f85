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


def test_the_table_shows_the_analysis_with_the_stable_version_beside_the_canary() -> None:
    table = rollout_table(
        body(
            {
                "phase": "RolledBack",
                "reason": "AnalysisFailed",
                "step": 1,
                "analysis": {
                    "version": 2,
                    "measurements": 2,
                    "failures": 2,
                    "failureLimit": 2,
                    "verdict": "Failed",
                    "time": "2026-12-06T01:00:00Z",
                    "results": [
                        {
                            "metric": "latency-p99",
                            "verdict": "Failed",
                            "max": 0.001,
                            "value": 0.0412,
                            "stableValue": 0.0398,
                            "requests": 120,
                        },
                        {
                            "metric": "error-rate",
                            "verdict": "Inconclusive",
                            "max": 0.01,
                            "message": "no pod could be read",
                        },
                    ],
                },
            }
        )
    )
    lines = table.splitlines()
    assert (
        "Analysis:  version 2, 2 measurements, 2 failed (rollback at 2), last Failed at "
        "2026-12-06T01:00:00Z"
    ) in lines
    header = lines.index(next(x for x in lines if x.startswith("METRIC")))
    assert lines[header + 1].split() == ["latency-p99", "41ms", "40ms", "1ms", "120", "Failed"]
    assert lines[header + 2].split()[:5] == ["error-rate", "-", "-", "1.00%", "-"]
    assert lines[header + 2].endswith("Inconclusive: no pod could be read")


def test_a_blue_green_rollout_shows_the_preview_and_the_active_version() -> None:
    md = body(
        {
            "strategy": "BlueGreen",
            "phase": "Promoting",
            "reason": "Promoting",
            "stableVersion": 1,
            "stableReplicas": 2,
            "canaryVersion": 2,
            "canaryReplicas": 2,
            "activeVersion": 2,
            "switchedAt": "2026-12-06T01:00:00Z",
            "message": "version 2 takes all traffic.",
        }
    )
    lines = rollout_table(md).splitlines()
    assert "Preview:   version 2, 2 replicas, Service digits-preview" in lines
    assert (
        "Active:    version 2 takes the traffic of Service digits (since 2026-12-06T01:00:00Z)"
        in lines
    )
    assert not any(line.startswith("STEP") for line in lines)
