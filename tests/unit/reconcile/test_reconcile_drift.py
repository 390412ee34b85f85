"""Drift decided from the pods' counts: PSI per feature, the worst feature, the verdict, the
DataDrift condition, the Warning Event, and retraining at most once per cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelship.api import DriftSpec
from modelship.api.reasons import (
    BASELINE_MISSING,
    DRIFT_DETECTED,
    INSUFFICIENT_SAMPLES,
    NO_DRIFT,
)
from modelship.artifacts.baseline import Baseline, FeatureBaseline
from modelship.artifacts.manifest import Manifest, ManifestFile
from modelship.artifacts.versions import VersionInfo
from modelship.reconcile.drift import (
    PodSummary,
    assess_drift,
    check_due,
    drift_check_due,
    parse_pod_summary,
    psi,
    retrain_started,
    score_drift,
)
from tests.unit.reconcile.builders import model_deployment

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
BASELINE = Baseline(
    samples=1000,
    features=(
        FeatureBaseline("pixels[0]", "input", (0.0,), (1000, 0)),
        FeatureBaseline("pixels[1]", "input", (0.25, 0.5, 0.75), (250, 250, 250, 250)),
        FeatureBaseline("probabilities[0]", "output", (0.5,), (900, 100)),
    ),
)


def summary(pod: str, pixels0: tuple[int, int], version: int = 3) -> PodSummary:
    rows = sum(pixels0)
    quarter = rows // 4
    return PodSummary(
        pod=pod,
        version=version,
        baseline=True,
        samples=rows,
        counts={
            "input pixels[0]": pixels0,
            "input pixels[1]": (quarter, quarter, quarter, rows - 3 * quarter),
            "output probabilities[0]": (rows * 9 // 10, rows - rows * 9 // 10),
        },
    )


def assess(summaries: list[PodSummary], **changes: Any) -> Any:
    spec = DriftSpec(**{"min_samples": 1000, "action": "Retrain", **changes.pop("spec", {})})
    options: dict[str, Any] = {
        "asked": 2,
        "previous": None,
        "generation": 4,
        "now": NOW,
        "baseline": BASELINE,
        **changes,
    }
    return assess_drift(spec, 3, summaries=summaries, **options)


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift() -> None:
    assert psi([250, 250, 250, 250], [25, 25, 25, 25]) == pytest.approx(0.0)
    small = psi([250, 250, 250, 250], [30, 25, 25, 20])
    large = psi([250, 250, 250, 250], [70, 10, 10, 10])
    assert 0 < small < 0.1 < large
    assert psi([1000, 0], [0, 500]) == pytest.approx(
        (1 - 1e-4) * 2 * 9.21, rel=0.01
    )  # an empty bin counts as a share of 1e-4, not as infinity


def test_counts_of_every_pod_add_up_and_the_worst_feature_is_named() -> None:
    scored = score_drift(BASELINE, [summary("a", (600, 0)), summary("b", (300, 300))])
    assert scored.samples == 1200 and scored.pods == 2
    assert scored.worst_feature == "input pixels[0]"
    assert scored.score > 1.0


def test_unshifted_traffic_is_no_drift() -> None:
    result = assess([summary("a", (600, 0)), summary("b", (600, 0))])
    assert result.status["verdict"] == NO_DRIFT
    assert (result.condition.type, result.condition.status) == ("DataDrift", "False")
    assert result.status["samples"] == 1200 and result.status["window"] == "1h"
    assert result.events == () and result.retrain is None


def test_shifted_traffic_is_drift_with_one_warning_and_a_retrain() -> None:
    result = assess([summary("a", (100, 500)), summary("b", (100, 500))])
    assert result.status["verdict"] == DRIFT_DETECTED
    assert result.condition.status == "True" and result.condition.observed_generation == 4
    assert result.status["worstFeature"] == "input pixels[0]"
    assert "input pixels[0] has PSI" in result.condition.message
    assert [(e.type, e.reason) for e in result.events] == [("Warning", DRIFT_DETECTED)]
    assert result.retrain is not None
    # Still drifting at the next check: no second Event; within the cooldown: no second run.
    started = retrain_started(result.status, NOW)
    later = assess(
        [summary("a", (100, 500)), summary("b", (100, 500))],
        previous=started,
        now=NOW + timedelta(hours=2),
    )
    assert later.events == () and later.retrain is None
    assert later.status["lastRetrainTime"] == "2026-12-06T12:00:00Z"
    after_cooldown = assess(
        [summary("a", (100, 500)), summary("b", (100, 500))],
        previous=later.status,
        now=NOW + timedelta(hours=25),
    )
    assert after_cooldown.retrain is not None


def test_alert_only_never_retrains() -> None:
    result = assess([summary("a", (100, 1100))], spec={"action": "Alert"})
    assert result.status["verdict"] == DRIFT_DETECTED and result.retrain is None


def test_too_few_samples_is_no_verdict_and_says_who_answered() -> None:
    result = assess([summary("a", (300, 300))])
    assert result.status["verdict"] == INSUFFICIENT_SAMPLES
    assert result.condition.status == "Unknown"
    assert "600 predictions" in result.condition.message
    assert "1 of 2 serving pods answered" in result.condition.message
    assert result.retrain is None


def test_pods_of_another_version_are_left_out() -> None:
    result = assess([summary("a", (600, 600), version=2), summary("b", (1000, 0))])
    assert result.status["samples"] == 1000 and result.status["verdict"] == NO_DRIFT


def test_a_version_without_baseline_says_how_to_record_one() -> None:
    result = assess([summary("a", (600, 600))], baseline=None)
    assert result.status["verdict"] == BASELINE_MISSING
    assert "modelship push --baseline" in result.condition.message


def test_the_pods_are_asked_at_most_once_per_poll() -> None:
    assert check_due(None, NOW, 30)
    checked = {"checkedAt": "2026-12-06T12:00:00Z"}
    assert not check_due(checked, NOW + timedelta(seconds=10), 30)
    assert check_due(checked, NOW + timedelta(seconds=30), 30)


def test_a_pods_answer_is_checked() -> None:
    answer = {
        "model": "digits",
        "version": 3,
        "baseline": True,
        "samples": 2,
        "features": [{"name": "pixels[0]", "source": "input", "counts": [1, 1]}],
    }
    parsed = parse_pod_summary("p", answer)
    assert parsed is not None and parsed.counts == {"input pixels[0]": (1, 1)}
    assert parse_pod_summary("p", {**answer, "samples": "2"}) is None
    assert parse_pod_summary("p", ["not", "an", "answer"]) is None


def test_status_monitoring_and_the_condition_fit_the_crd_schema() -> None:
    from tests.unit.reconcile.test_reconcile_status import STATUS_SCHEMA, schema_violations

    result = assess([summary("a", (100, 500)), summary("b", (100, 500))])
    status = {
        "monitoring": retrain_started(result.status, NOW),
        "conditions": [result.condition.to_dict() | {"lastTransitionTime": "2026-12-06T12:00:00Z"}],
    }
    assert schema_violations(status, STATUS_SCHEMA) == []


def listed(number: int, baseline: Baseline | None = BASELINE) -> VersionInfo:
    manifest = Manifest(
        version=number,
        files=(ManifestFile("saved_model.pb", 10, "0" * 64),),
        framework="tensorflow",
        framework_version="2.21.0",
        signatures=(),
        created="2026-12-01T00:00:00Z",
        baseline=baseline,
    )
    return VersionInfo(number, "complete", manifest, f"sha256:{number}", 10, manifest.created)


def test_the_serving_version_is_checked_at_most_once_per_poll() -> None:
    md = model_deployment()
    md._spec["monitoring"] = {"drift": {"window": "10m"}}
    spec = md.spec()
    status: dict[str, Any] = {"currentVersion": 3, "model": "digits"}
    check = drift_check_due(spec, "digits", status, [listed(3)], NOW, 60.0)
    assert check is not None
    assert (check.version, check.baseline, check.window) == (3, BASELINE, 600.0)
    recent = {**status, "monitoring": {"checkedAt": "2026-12-06T11:59:30Z"}}
    assert drift_check_due(spec, "digits", recent, [listed(3)], NOW, 60.0) is None
    # Nothing to compare with: no version serves yet, or the listing does not show it.
    assert drift_check_due(spec, "digits", {}, [listed(3)], NOW, 60.0) is None
    assert drift_check_due(spec, "digits", status, [listed(4)], NOW, 60.0) is None
    # Not asked for.
    assert (
        drift_check_due(model_deployment().spec(), "digits", status, [listed(3)], NOW, 60) is None
    )
