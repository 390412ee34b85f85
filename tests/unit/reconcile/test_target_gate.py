"""The training gate decides which newer versions may become the target."""

from __future__ import annotations

from modelship.reconcile.versions import choose_target
from tests.unit.reconcile.builders import model_deployment, version


def gated(**gate: object) -> object:
    md = model_deployment()
    md._set("training", "entrypoint", "pkg.mod:train")
    md._set("training", "gate", {"metric": "accuracy", **gate})
    return md.spec()


def test_a_version_below_the_gate_minimum_never_becomes_the_target() -> None:
    spec = gated(min=0.9)
    versions = [version(1, metrics={"accuracy": 0.95}), version(2, metrics={"accuracy": 0.5})]
    choice = choose_target(spec, versions, deployed=None, current_version=1)  # type: ignore[arg-type]
    assert choice.deploy is not None and choice.deploy.number == 1
    assert choice.advisory is not None
    assert choice.advisory.reason == "GateFailed"
    assert "0.5" in choice.advisory.message and "Version 1 keeps serving" in choice.advisory.message


def test_a_version_that_does_not_improve_is_held_back_when_improvement_is_required() -> None:
    spec = gated(mustImprove=True)
    versions = [version(1, metrics={"accuracy": 0.95}), version(2, metrics={"accuracy": 0.94})]
    choice = choose_target(spec, versions, deployed=None, current_version=1)  # type: ignore[arg-type]
    assert choice.deploy is not None and choice.deploy.number == 1
    assert choice.advisory is not None and choice.advisory.reason == "GateNotImproved"


def test_a_better_version_passes_the_gate_and_becomes_the_target() -> None:
    spec = gated(min=0.9, mustImprove=True)
    versions = [version(1, metrics={"accuracy": 0.95}), version(2, metrics={"accuracy": 0.97})]
    choice = choose_target(spec, versions, deployed=None, current_version=1)  # type: ignore[arg-type]
    assert choice.deploy is not None and choice.deploy.number == 2
    assert choice.advisory is None


def test_when_the_only_version_fails_the_gate_nothing_is_deployed_and_a_person_must_act() -> None:
    spec = gated(min=0.9)
    choice = choose_target(
        spec,
        [version(1, metrics={"accuracy": 0.2})],  # type: ignore[arg-type]
        deployed=None,
        current_version=None,
    )
    assert choice.deploy is None
    assert choice.blocking is not None and choice.blocking.reason == "GateFailed"
    assert choice.blocking.needs_person
