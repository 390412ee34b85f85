"""The Events the controller posts itself (controller/modeldeployment.py `event_object`): what
`kubectl describe` and `kubectl get events --field-selector involvedObject.name=...` find."""

from __future__ import annotations

from datetime import UTC, datetime

from modelship.controller.modeldeployment import event_object
from modelship.reconcile.status import Event


def test_an_event_names_the_model_deployment_it_is_about() -> None:
    body = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "digits", "namespace": "ml", "uid": "u-1"},
    }
    event = event_object(
        body, Event("Warning", "ChecksumMismatch", "x" * 2000), datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert event["involvedObject"] == {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelDeployment",
        "name": "digits",
        "namespace": "ml",
        "uid": "u-1",
    }
    assert (event["type"], event["reason"]) == ("Warning", "ChecksumMismatch")
    assert len(event["message"]) == 1024  # cut as kopf cut them (its MAX_MESSAGE_LENGTH)
    assert event["metadata"] == {"generateName": "digits.", "namespace": "ml"}
    assert event["lastTimestamp"] == "2026-12-01T00:00:00Z"
