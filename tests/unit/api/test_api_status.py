"""Status types and set_condition: conditions tell when they really last changed."""

from __future__ import annotations

import copy

from modelship.api import (
    ARTIFACT_READY,
    READY,
    RECONCILING,
    STALLED,
    Condition,
    ModelDeploymentStatus,
    Phase,
    TrainingStatus,
    VersionStatus,
    find_condition,
    set_condition,
)

EARLIER = "2026-01-01T00:00:00Z"
NOW = "2026-01-01T00:05:00Z"


def ready(
    status: str, reason: str = "Serving", message: str = "ok", generation: int = 1
) -> Condition:
    return Condition(READY, status, reason, message, "", generation)


def test_a_new_condition_is_added_with_now() -> None:
    result = set_condition([], ready("True"), NOW)
    assert result == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Serving",
            "message": "ok",
            "lastTransitionTime": NOW,
            "observedGeneration": 1,
        }
    ]


def test_an_unchanged_status_keeps_its_transition_time_but_takes_the_new_words() -> None:
    before = set_condition([], ready("False", "Deploying", "rolling out"), EARLIER)
    after = set_condition(before, ready("False", "PodsPending", "0/6 nodes are available", 2), NOW)
    assert after == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "PodsPending",
            "message": "0/6 nodes are available",
            "lastTransitionTime": EARLIER,
            "observedGeneration": 2,
        }
    ]


def test_a_changed_status_moves_the_transition_time() -> None:
    before = set_condition([], ready("False"), EARLIER)
    after = set_condition(before, ready("True"), NOW)
    assert after[0]["lastTransitionTime"] == NOW
    assert after[0]["status"] == "True"


def test_other_conditions_keep_their_place_and_the_input_is_not_changed() -> None:
    conditions = [
        {
            "type": RECONCILING,
            "status": "True",
            "reason": "RollingOut",
            "message": "m",
            "lastTransitionTime": EARLIER,
        },
        {
            "type": READY,
            "status": "False",
            "reason": "Deploying",
            "message": "m",
            "lastTransitionTime": EARLIER,
        },
        {
            "type": STALLED,
            "status": "False",
            "reason": "Progressing",
            "message": "m",
            "lastTransitionTime": EARLIER,
        },
    ]
    original = copy.deepcopy(conditions)

    result = set_condition(conditions, ready("True"), NOW)

    assert conditions == original
    assert [c["type"] for c in result] == [RECONCILING, READY, STALLED]
    assert result[0] == conditions[0] and result[2] == conditions[2]
    assert result[1]["lastTransitionTime"] == NOW


def test_duplicates_of_a_type_collapse_into_one() -> None:
    twice = [
        {
            "type": READY,
            "status": "True",
            "reason": "a",
            "message": "",
            "lastTransitionTime": EARLIER,
        },
        {
            "type": READY,
            "status": "False",
            "reason": "b",
            "message": "",
            "lastTransitionTime": EARLIER,
        },
    ]
    result = set_condition(twice, ready("True"), NOW)
    assert len(result) == 1
    assert result[0]["lastTransitionTime"] == EARLIER


def test_a_condition_without_a_transition_time_gets_now() -> None:
    result = set_condition([{"type": READY, "status": "True"}], ready("True"), NOW)
    assert result[0]["lastTransitionTime"] == NOW


def test_find_condition_reads_a_condition_back() -> None:
    conditions = set_condition(
        [], Condition(ARTIFACT_READY, "False", "VersionNotFound", "no version 7", "", 3), NOW
    )
    found = find_condition(conditions, ARTIFACT_READY)
    assert found == Condition(ARTIFACT_READY, "False", "VersionNotFound", "no version 7", NOW, 3)
    assert find_condition(conditions, READY) is None


def test_status_to_dict_uses_camel_case_and_leaves_out_what_is_unknown() -> None:
    status = ModelDeploymentStatus(
        observed_generation=7,
        phase=Phase.READY,
        current_version=3,
        ready_replicas=2,
        conditions=[Condition(READY, "True", "Serving", "ok", NOW, 7)],
        versions=[VersionStatus(3, "complete", "sha256:ab", NOW, {"accuracy": 0.97})],
        training=TrainingStatus(job_name="digits-train-4", version=4, state="Running"),
    )
    assert status.to_dict() == {
        "observedGeneration": 7,
        "phase": "Ready",
        "currentVersion": 3,
        "readyReplicas": 2,
        "conditions": [Condition(READY, "True", "Serving", "ok", NOW, 7).to_dict()],
        "versions": [
            {
                "number": 3,
                "state": "complete",
                "digest": "sha256:ab",
                "created": NOW,
                "metrics": {"accuracy": 0.97},
            }
        ],
        "training": {"jobName": "digits-train-4", "version": 4, "state": "Running", "metrics": {}},
    }


def test_phases_are_the_designed_words() -> None:
    assert [phase.value for phase in Phase] == [
        "Pending",
        "Training",
        "Deploying",
        "Ready",
        "Degraded",
        "Failed",
    ]
    assert Phase.READY == "Ready"
