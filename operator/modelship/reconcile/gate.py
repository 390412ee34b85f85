"""The gate a new version must pass before it is rolled out (`spec.training.gate`).

A version's metrics come from its manifest. `min` and `max` bound the metric; `mustImprove`
compares it with the serving version's in the direction of `goal` (Maximize for accuracy,
Minimize for loss). The gate judges every complete version newer than the one serving, made
by training or pushed by hand, so a version that fails it is never rolled out — and because
the verdict is computed from the store each time, nothing has to be remembered across
operator restarts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from modelship.api import GateSpec, ModelDeploymentSpec
from modelship.api.reasons import (
    GATE_FAILED,
    GATE_METRIC_MISSING,
    GATE_NOT_IMPROVED,
    GATE_PASSED,
    NO_GATE,
)
from modelship.artifacts.versions import VersionInfo


class GateDecision(NamedTuple):
    """`(passed, reason, message)`."""

    passed: bool
    reason: str
    message: str


def gate_decision(
    gate: GateSpec | None,
    candidate_metrics: Mapping[str, float],
    current_metrics: Mapping[str, float] | None,
    *,
    candidate: int | None = None,
    current: int | None = None,
) -> GateDecision:
    """Judge a candidate version's metrics against the gate and the serving version's metrics
    (None when nothing serves yet). `candidate` and `current` (version numbers) only make
    the message name the versions."""
    this = f"version {candidate}" if candidate is not None else "the new version"
    if gate is None:
        return GateDecision(True, NO_GATE, f"{this} is rolled out: no gate is set.")
    name = gate.metric
    value = candidate_metrics.get(name)
    if value is None:
        found = ", ".join(sorted(candidate_metrics)) or "none"
        return GateDecision(
            False,
            GATE_METRIC_MISSING,
            f"{this} has no metric {name!r} in its manifest (it has: {found}), so the gate "
            f"cannot judge it and it is not rolled out; return {name!r} from the training "
            "entrypoint, or change spec.training.gate.metric.",
        )
    if not math.isfinite(value):
        return GateDecision(
            False, GATE_FAILED, f"{this}'s {name} is {value}, not a number the gate can judge."
        )
    if gate.min is not None and value < gate.min:
        return GateDecision(
            False,
            GATE_FAILED,
            f"{this}'s {name} is {value:g}, below the gate's minimum {gate.min:g} "
            "(spec.training.gate.min); it is not rolled out.",
        )
    if gate.max is not None and value > gate.max:
        return GateDecision(
            False,
            GATE_FAILED,
            f"{this}'s {name} is {value:g}, above the gate's maximum {gate.max:g} "
            "(spec.training.gate.max); it is not rolled out.",
        )
    if gate.must_improve and current_metrics is not None:
        that = f"version {current}" if current is not None else "the serving version"
        served = current_metrics.get(name)
        minimize = gate.goal == "Minimize"
        if served is not None and math.isfinite(served):
            improved = value < served if minimize else value > served
            if not improved:
                direction = ", lower is better" if minimize else ""
                return GateDecision(
                    False,
                    GATE_NOT_IMPROVED,
                    f"{this}'s {name} is {value:g}, not better than {that}'s {served:g} "
                    f"(spec.training.gate.mustImprove{direction}); it is not rolled out.",
                )
    return GateDecision(True, GATE_PASSED, f"{this} passed the gate: {name} is {value:g}.")


@dataclass(frozen=True)
class GatedVersions:
    """The store's versions split by the gate."""

    deployable: tuple[VersionInfo, ...]
    """Every version the gate lets through (pass these to `resolve_target_version`):
    versions up to the serving one, incomplete and corrupt ones (judged there), and
    complete newer ones that pass."""
    rejected: dict[int, GateDecision] = field(default_factory=dict)
    """Version number -> why the gate holds it back (for status and Events)."""


def gate_versions(
    spec: ModelDeploymentSpec, versions: Sequence[VersionInfo], current_version: int | None
) -> GatedVersions:
    """Apply `spec.training.gate` to every complete version newer than `current_version`
    (status.currentVersion; None when nothing serves, and then every version is judged).

    A pinned spec.model.version is the user's explicit choice: nothing is held back."""
    gate = spec.training.gate if spec.training is not None else None
    if gate is None or spec.model.version is not None:
        return GatedVersions(tuple(versions))
    by_number = {v.number: v for v in versions}
    serving = by_number.get(current_version) if current_version is not None else None
    current_metrics = (
        serving.metrics if serving is not None and serving.state == "complete" else None
    )
    deployable: list[VersionInfo] = []
    rejected: dict[int, GateDecision] = {}
    for info in versions:
        newer = current_version is None or info.number > current_version
        if info.state != "complete" or not newer:
            deployable.append(info)
            continue
        decision = gate_decision(
            gate, info.metrics, current_metrics, candidate=info.number, current=current_version
        )
        if decision.passed:
            deployable.append(info)
        else:
            rejected[info.number] = decision
    return GatedVersions(tuple(deployable), rejected)
