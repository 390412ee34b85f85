"""The status for an object the API server refuses (reconcile/refusal.py): Stalled in the
API server's words, written once, not again while nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime

from modelship.reconcile.refusal import OBJECT_REFUSED, refused_object_patch

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
SAYS = 'services "digits" is forbidden: exceeded quota: no-services, requested: services=1.'


def test_a_refused_object_makes_the_resource_stalled_in_the_api_servers_words() -> None:
    ready = {"type": "Ready", "status": "True", "reason": "Serving", "message": "ok"}
    patch = refused_object_patch({"conditions": [ready]}, "Service", "digits", SAYS, 3, NOW)
    conditions = {c["type"]: c for c in patch["conditions"]}
    assert {t: c["status"] for t, c in conditions.items()} == {
        "Ready": "False",
        "Stalled": "True",
        "Reconciling": "False",
    }
    for condition in conditions.values():
        assert condition["reason"] == OBJECT_REFUSED
        assert condition["observedGeneration"] == 3
        assert "the Service digits" in condition["message"]
        assert "exceeded quota: no-services" in condition["message"]
        assert not condition["message"].endswith(". ")
    assert conditions["Stalled"]["lastTransitionTime"] == "2026-12-01T03:00:00Z"


def test_saying_it_again_writes_nothing() -> None:
    first = refused_object_patch({}, "Service", "digits", SAYS, 3, NOW)
    later = NOW.replace(hour=4)
    assert refused_object_patch(first, "Service", "digits", SAYS, 3, later) == {}
