"""Every reason is defined once, in modelship.api.reasons, with where it shows and what a
person should do; docs/reasons.md is generated from it; and no code spells a reason itself."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelship.api.reasons import FAMILIES, REASONS, markdown
from modelship.api.status import (
    ARTIFACT_READY,
    CONDITION_REASON_PATTERN,
    DATA_DRIFT,
    READY,
    RECONCILING,
    STALLED,
)

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "operator" / "modelship"
REASONS_PACKAGE = PACKAGE / "api" / "reasons"
CAMEL_CASE = re.compile(r"^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$")

# Kubernetes' (or S3's) own vocabulary that happens to spell one of our reasons, where it is
# not used as a reason: each with what it is.
NOT_A_REASON = {
    ("reconcile/health.py", "Progressing"): "the Deployment condition type",
    ("artifacts/s3.py", "AccessDenied"): "the S3 error code",
    ("dev/simulation.py", "OOMKilled"): "the kubelet's word in a simulated pod's status",
    **{
        ("api/status.py", phase): "a status.rollout.phase value"
        for phase in ("Progressing", "Promoting", "Promoted", "Aborted", "RolledBack")
    },
}
# The reasons a CRD validation rule may give the API server (ours travel in its message).
KUBERNETES_VALIDATION_REASONS = {"FieldValueRequired", "FieldValueInvalid"}
# Calls that take a reason, and the position it is passed at.
REASON_ARGUMENT = {
    "Finding": 0,
    "Event": 1,
    "GateDecision": 1,
    "TrainingDecision": 1,
    "TrainingOutcome": 1,
    "ArtifactError": 0,
    "SpecError": 1,
    "TrainingError": 0,
    "ServeError": 0,
    "fail": 0,
    "_fail": 0,
}


def test_docs_reasons_md_is_generated_from_the_module() -> None:
    assert (ROOT / "docs" / "reasons.md").read_text() == markdown(), (
        "docs/reasons.md is stale: run `make reasons`"
    )


@pytest.mark.parametrize("name", sorted(REASONS))
def test_each_reason_says_where_it_shows_what_it_means_and_what_to_do(name: str) -> None:
    reason = REASONS[name]
    assert re.match(CONDITION_REASON_PATTERN, name) and CAMEL_CASE.match(name), name
    assert reason.family in FAMILIES
    assert reason.meaning.endswith(".") and reason.meaning[:1].isupper()
    assert reason.action.endswith(".") and reason.action[:1].isupper()
    known = {READY, RECONCILING, STALLED, ARTIFACT_READY, DATA_DRIFT}
    assert all(w in known or "." in w or " " in w or w == "Event" for w in reason.where)


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if REASONS_PACKAGE in path.parents or "protos" in path.parts:
            continue
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path))


def _not_code(tree: ast.Module) -> set[int]:
    """ids of the string constants that are docstrings or names in `__all__`."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            skip.update(id(item) for item in ast.walk(node.value))
    return skip


def test_no_code_spells_a_reason_word_itself() -> None:
    found = []
    for name, tree in _sources():
        skip = _not_code(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or id(node) in skip:
                continue
            spelled = isinstance(node.value, str) and node.value in REASONS
            if spelled and (name, node.value) not in NOT_A_REASON:
                found.append(f"{name}:{node.lineno} {node.value!r}")
    assert found == [], "use the constant from modelship.api.reasons instead"


def _passed_as_reason(tree: ast.Module) -> Iterator[ast.expr]:
    """The expressions code passes (or stores) as a reason."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "reason":
                    yield keyword.value
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            position = REASON_ARGUMENT.get(str(called))
            if position is not None and len(node.args) > position:
                yield node.args[position]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "reason":
                    yield value


def test_every_reason_passed_in_code_is_a_named_constant() -> None:
    found = []
    for name, tree in _sources():
        for value in _passed_as_reason(tree):
            if not isinstance(value, ast.Constant) or not isinstance(value.value, str):
                continue
            if CAMEL_CASE.match(value.value) and value.value not in KUBERNETES_VALIDATION_REASONS:
                found.append(f"{name}:{value.lineno} {value.value!r}")
    assert found == [], "define the reason in modelship.api.reasons and use its constant"


def test_the_scan_catches_a_literal_reason() -> None:
    tree = ast.parse('Finding("BrandNew", "x")\nstatus.update(reason="AlsoNew")\n')
    spelled = [v.value for v in _passed_as_reason(tree) if isinstance(v, ast.Constant)]
    assert spelled == ["BrandNew", "AlsoNew"]
