"""The gate a new version must pass before it is rolled out (`spec.training.gate`).

A version's metrics come from its manifest. `min` and `max` bound the metric; `mustImprove`
compares it with the serving version's in the direction of `goal` (Maximize for accuracy,
Minimize for loss). The gate judges every complete version newer than the one serving, made
by training or pushed by hand, so a version that fails it is never rolled out — and because
the verdict is computed from the store each time, nothing has to be remembered across
operator restarts.

A version made by `modelship optimize` (its manifest names `derived_from`) is judged instead by
`spec.optimize`, when that is set: its metric may be at most `maxMetricDrop` worse than its
source's, both measured in the same run on the same evaluation data, and its source must not
be held back itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from modelship.api import GateSpec, ModelDeploymentSpec, OptimizeSpec
from modelship.api.reasons import (
    GATE_FAILED,
    GATE_METRIC_MISSING,
    GATE_NOT_IMPROVED,
    GATE_PASSED,
    NO_GATE,
    OPTIMIZATION_METRIC_MISSING,
    OPTIMIZATION_PASSED,
    OPTIMIZATION_REJECTED,
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


def optimization_decision(
    optimize: OptimizeSpec, candidate: VersionInfo, source: VersionInfo | None = None
) -> GateDecision:
    """Judge an optimized version against its source: the metric may be at most
    `maxMetricDrop` worse. The source's value is the one measured in the same run
    (`derived_from.source_metrics`), else the source manifest's."""
    origin = candidate.manifest.derived_from if candidate.manifest is not None else None
    if origin is None:
        raise ValueError(f"version {candidate.number} was not made by an optimization")
    this = f"version {candidate.number} ({origin.method} of version {origin.version})"
    name = optimize.metric
    value = candidate.metrics.get(name)
    base = origin.source_metrics.get(name)
    if base is None and source is not None:
        base = source.metrics.get(name)
    if value is None or base is None or not math.isfinite(value) or not math.isfinite(base):
        found = ", ".join(sorted(candidate.metrics)) or "none"
        return GateDecision(
            False,
            OPTIMIZATION_METRIC_MISSING,
            f"{this} cannot be compared with its source: it has no {name!r} for both (it "
            f"has: {found}), so it is not served; give the evaluation data 'labels', or "
            "change spec.optimize.metric.",
        )
    minimize = optimize.goal == "Minimize"
    drop = value - base if minimize else base - value
    worse = "higher" if minimize else "lower"
    measured = (
        f"{this} has {name} {value:g} against {base:g} for version {origin.version} on the "
        f"same evaluation data ({abs(drop):g} {worse if drop > 0 else 'no worse'})"
    )
    # A hair of tolerance: two floats that print the same must not fail the check.
    if drop > optimize.max_metric_drop + 1e-9:
        return GateDecision(
            False,
            OPTIMIZATION_REJECTED,
            f"{measured}, more than spec.optimize.maxMetricDrop {optimize.max_metric_drop:g}; "
            "it is never served. Try a milder quantization (Float16, DynamicRange) or allow "
            "a larger drop.",
        )
    return GateDecision(
        True,
        OPTIMIZATION_PASSED,
        f"{measured}, within spec.optimize.maxMetricDrop {optimize.max_metric_drop:g}.",
    )


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
    optimize = spec.optimize
    if (gate is None and optimize is None) or spec.model.version is not None:
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
        origin = info.manifest.derived_from if info.manifest is not None else None
        if optimize is not None and origin is not None:
            decision = _optimized_decision(optimize, info, by_number, rejected)
        elif gate is None:
            deployable.append(info)
            continue
        else:
            decision = gate_decision(
                gate, info.metrics, current_metrics, candidate=info.number, current=current_version
            )
        if decision.passed:
            deployable.append(info)
        else:
            rejected[info.number] = decision
    return GatedVersions(tuple(deployable), rejected)


def _optimized_decision(
    optimize: OptimizeSpec,
    info: VersionInfo,
    by_number: Mapping[int, VersionInfo],
    rejected: Mapping[int, GateDecision],
) -> GateDecision:
    """An optimized version of a source the gate holds back is held back with it: the
    conversion cannot make a rejected model good."""
    origin = info.manifest.derived_from if info.manifest is not None else None
    assert origin is not None
    held = rejected.get(origin.version)
    if held is not None:
        return GateDecision(
            False,
            held.reason,
            f"version {info.number} is an optimization of version {origin.version}, which is "
            f"held back: {held.message}",
        )
    return optimization_decision(optimize, info, by_number.get(origin.version))
