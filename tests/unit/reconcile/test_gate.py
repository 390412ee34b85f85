"""The gate: a version whose metrics fail it is never rolled out, and the reason says why."""

from __future__ import annotations

import math

import pytest

from modelship.api import GateSpec
from modelship.reconcile.gate import gate_decision, gate_versions
from modelship.reconcile.versions import resolve_target_version
from tests.unit.reconcile.builders import version
from tests.unit.training.builders import TrainedModelBuilder, trained

AT_LEAST_90 = GateSpec(metric="accuracy", min=0.9)
IMPROVES = GateSpec(metric="accuracy", must_improve=True)
BOTH = GateSpec(metric="accuracy", min=0.9, must_improve=True)
LOSS_AT_MOST_02 = GateSpec(metric="loss", max=0.2)
LOSS_IMPROVES = GateSpec(metric="loss", goal="Minimize", must_improve=True)
LOSS_BAND = GateSpec(metric="loss", min=0.01, max=0.2, goal="Minimize", must_improve=True)


@pytest.mark.parametrize(
    ("gate", "candidate", "current", "passed", "reason"),
    [
        (None, {}, None, True, "NoGate"),
        (AT_LEAST_90, {"accuracy": 0.95}, None, True, "GatePassed"),
        (AT_LEAST_90, {"accuracy": 0.9}, None, True, "GatePassed"),  # the minimum itself passes
        (AT_LEAST_90, {"accuracy": 0.85}, None, False, "GateFailed"),
        (AT_LEAST_90, {"loss": 0.1}, None, False, "GateMetricMissing"),
        (AT_LEAST_90, {}, None, False, "GateMetricMissing"),
        (AT_LEAST_90, {"accuracy": math.nan}, None, False, "GateFailed"),
        (IMPROVES, {"accuracy": 0.93}, {"accuracy": 0.92}, True, "GatePassed"),
        (IMPROVES, {"accuracy": 0.92}, {"accuracy": 0.92}, False, "GateNotImproved"),
        (IMPROVES, {"accuracy": 0.91}, {"accuracy": 0.92}, False, "GateNotImproved"),
        (IMPROVES, {"accuracy": 0.5}, None, True, "GatePassed"),  # nothing serves yet
        (IMPROVES, {"accuracy": 0.5}, {"loss": 0.2}, True, "GatePassed"),  # nothing to beat
        (BOTH, {"accuracy": 0.89}, {"accuracy": 0.5}, False, "GateFailed"),
        (BOTH, {"accuracy": 0.95}, {"accuracy": 0.96}, False, "GateNotImproved"),
        (BOTH, {"accuracy": 0.97}, {"accuracy": 0.96}, True, "GatePassed"),
        (LOSS_AT_MOST_02, {"loss": 0.2}, None, True, "GatePassed"),  # the maximum itself passes
        (LOSS_AT_MOST_02, {"loss": 0.21}, None, False, "GateFailed"),
        (LOSS_IMPROVES, {"loss": 0.1}, {"loss": 0.2}, True, "GatePassed"),  # lower is better
        (LOSS_IMPROVES, {"loss": 0.3}, {"loss": 0.2}, False, "GateNotImproved"),
        (LOSS_IMPROVES, {"loss": 0.2}, {"loss": 0.2}, False, "GateNotImproved"),
        (LOSS_BAND, {"loss": 0.005}, {"loss": 0.2}, False, "GateFailed"),  # suspiciously low
        (LOSS_BAND, {"loss": 0.25}, None, False, "GateFailed"),
        (LOSS_BAND, {"loss": 0.15}, {"loss": 0.18}, True, "GatePassed"),
    ],
)
def test_gate_decision(
    gate: GateSpec | None,
    candidate: dict[str, float],
    current: dict[str, float] | None,
    passed: bool,
    reason: str,
) -> None:
    decision = gate_decision(gate, candidate, current)
    assert (decision.passed, decision.reason) == (passed, reason)
    assert decision.message.endswith(".")


def test_messages_name_both_numbers_and_the_setting() -> None:
    passed, reason, message = gate_decision(AT_LEAST_90, {"accuracy": 0.85}, None, candidate=5)
    assert (passed, reason) == (False, "GateFailed")
    assert "version 5's accuracy is 0.85, below the gate's minimum 0.9" in message
    assert "spec.training.gate.min" in message
    _, _, message = gate_decision(
        IMPROVES, {"accuracy": 0.91}, {"accuracy": 0.92}, candidate=5, current=4
    )
    assert "version 5's accuracy is 0.91, not better than version 4's 0.92" in message
    _, _, message = gate_decision(LOSS_AT_MOST_02, {"loss": 0.25}, None, candidate=5)
    assert "version 5's loss is 0.25, above the gate's maximum 0.2" in message
    assert "spec.training.gate.max" in message
    _, _, message = gate_decision(
        LOSS_IMPROVES, {"loss": 0.3}, {"loss": 0.2}, candidate=5, current=4
    )
    assert "not better than version 4's 0.2 (spec.training.gate.mustImprove, lower is better)" in (
        message
    )
    _, _, message = gate_decision(AT_LEAST_90, {"loss": 0.1, "f1": 0.8}, None, candidate=5)
    assert "no metric 'accuracy'" in message and "it has: f1, loss" in message


def test_a_rejected_version_is_never_the_target() -> None:
    md = trained().gate("accuracy", 0.9)
    versions = [
        version(1, metrics={"accuracy": 0.92}),
        version(2, metrics={"accuracy": 0.95}),
        version(3, metrics={"accuracy": 0.80}),  # trained, failed the gate
    ]
    gated = gate_versions(md.spec(), versions, current_version=2)
    assert set(gated.rejected) == {3}
    assert gated.rejected[3].reason == "GateFailed"
    resolution = resolve_target_version(md.spec(), gated.deployable, current_version=2)
    assert resolution.target is not None and resolution.target.number == 2


def test_a_newer_passing_version_is_rolled_out_past_a_rejected_one() -> None:
    md = trained().gate("accuracy", must_improve=True)
    versions = [
        version(2, metrics={"accuracy": 0.90}),
        version(3, metrics={"accuracy": 0.88}),
        version(4, metrics={"accuracy": 0.93}),
    ]
    gated = gate_versions(md.spec(), versions, current_version=2)
    assert {n: d.reason for n, d in gated.rejected.items()} == {3: "GateNotImproved"}
    target = resolve_target_version(md.spec(), gated.deployable, current_version=2).target
    assert target is not None and target.number == 4


def test_versions_up_to_the_serving_one_and_unfinished_ones_are_not_judged() -> None:
    md = trained().gate("accuracy", 0.9)
    versions = [
        version(1, metrics={"accuracy": 0.5}),  # served before the gate existed
        version(2, metrics={"accuracy": 0.5}),  # serving now
        version(3, "incomplete"),
        version(4, "corrupt", reason="ChecksumMismatch"),
    ]
    gated = gate_versions(md.spec(), versions, current_version=2)
    assert gated.rejected == {}
    assert [v.number for v in gated.deployable] == [1, 2, 3, 4]


def test_with_nothing_serving_every_version_is_judged() -> None:
    md = trained().gate("accuracy", 0.9)
    versions = [version(1, metrics={"accuracy": 0.5}), version(2, metrics={})]
    gated = gate_versions(md.spec(), versions, current_version=None)
    assert {n: d.reason for n, d in gated.rejected.items()} == {
        1: "GateFailed",
        2: "GateMetricMissing",
    }
    assert resolve_target_version(md.spec(), gated.deployable).target is None


@pytest.mark.parametrize(
    "md",
    [trained(), trained().untrained(), trained().gate("accuracy", 0.99).pinned(3)],
    ids=["no-gate", "no-training", "pinned"],
)
def test_nothing_is_held_back_without_a_gate_or_with_a_pinned_version(
    md: TrainedModelBuilder,
) -> None:
    versions = [version(3, metrics={"accuracy": 0.5})]
    gated = gate_versions(md.spec(), versions, current_version=None)
    assert gated.rejected == {} and list(gated.deployable) == versions
