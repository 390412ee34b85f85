"""Finding the user's entrypoint and checking what it returned, with errors that say what
to change (no TensorFlow needed: nothing here is a Keras model)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship.training import TrainingError, load_entrypoint, read_result
from tests.unit.training import entrypoints

EP = "tests.unit.training.entrypoints"


@pytest.fixture
def user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path to write user modules into; they are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_loads_the_function() -> None:
    assert load_entrypoint(f"{EP}:fails") is entrypoints.fails


@pytest.mark.parametrize(
    ("entrypoint", "why"),
    [
        ("tests.unit.training.entrypoints", 'write it as "package.module:function"'),
        ("tests/unit/training/entrypoints.py:tiny", 'write it as "package.module:function"'),
        ("no_such_package.train:train", "module 'no_such_package.train' is not installed"),
        (f"{EP}:no_such_function", "has no function 'no_such_function'"),
        (f"{EP}:NOT_A_FUNCTION", "has a non-callable 'NOT_A_FUNCTION'"),
    ],
)
def test_a_missing_entrypoint_is_permanent(entrypoint: str, why: str) -> None:
    with pytest.raises(TrainingError) as caught:
        load_entrypoint(entrypoint)
    assert (caught.value.reason, caught.value.permanent) == ("EntrypointNotFound", True)
    assert why in caught.value.message


def test_a_missing_dependency_names_the_import(user_code: Path) -> None:
    (user_code / "needs_dep.py").write_text("import no_such_dependency_xyz\ndef train(ctx): ...\n")
    with pytest.raises(TrainingError) as caught:
        load_entrypoint("needs_dep:train")
    assert caught.value.reason == "EntrypointNotFound"
    assert "importing 'needs_dep' failed: No module named 'no_such_dependency_xyz'" in (
        caught.value.message
    )


def test_a_module_that_raises_while_imported_is_a_training_failure(user_code: Path) -> None:
    (user_code / "raises_on_import.py").write_text("raise RuntimeError('no config')\n")
    with pytest.raises(TrainingError) as caught:
        load_entrypoint("raises_on_import:train")
    assert (caught.value.reason, caught.value.permanent) == ("TrainingFailed", False)
    assert "raised RuntimeError: no config" in caught.value.message


def test_the_working_directory_is_importable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cwd_train.py").write_text("def train(ctx):\n    return 'here'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        assert load_entrypoint("cwd_train:train")(None) == "here"
    finally:
        sys.modules.pop("cwd_train", None)


def test_a_saved_model_folder_and_metrics(tmp_path: Path) -> None:
    result = read_result((str(tmp_path), {"accuracy": 0.97, "epochs": 3}), "m:f")
    assert result.model == tmp_path
    assert result.metrics == {"accuracy": 0.97, "epochs": 3.0}
    assert read_result(tmp_path, "m:f").metrics == {}  # a bare model: no metrics


def test_numpy_numbers_are_metrics(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    result = read_result((tmp_path, {"accuracy": np.float32(0.5), "n": np.int64(2)}), "m:f")
    assert result.metrics == {"accuracy": 0.5, "n": 2.0}


@pytest.mark.parametrize(
    ("returned", "why"),
    [
        (None, "m:f returned None; return (model, metrics)"),
        ({"accuracy": 0.9}, "m:f returned an object of type builtins.dict"),
        ((1, 2, 3), "m:f returned a tuple of 3 items"),
        (object(), "returned an object of type builtins.object"),
        ("/no/such/folder", "returned the path '/no/such/folder', which is not a folder"),
    ],
)
def test_anything_but_a_model_is_invalid(returned: Any, why: str) -> None:
    with pytest.raises(TrainingError) as caught:
        read_result(returned, "m:f")
    assert (caught.value.reason, caught.value.permanent) == ("InvalidModel", True)
    assert why in caught.value.message


@pytest.mark.parametrize(
    "metrics",
    [
        [0.9],
        {"accuracy": "high"},
        {"accuracy": True},
        {"accuracy": float("nan")},
        {"accuracy": float("inf")},
        {"": 1.0},
        {3: 1.0},
        {"accuracy": None},
    ],
)
def test_metrics_must_be_named_finite_numbers(tmp_path: Path, metrics: Any) -> None:
    with pytest.raises(TrainingError) as caught:
        read_result((tmp_path, metrics), "m:f")
    assert (caught.value.reason, caught.value.permanent) == ("InvalidMetrics", True)
    assert "m:f returned" in caught.value.message
