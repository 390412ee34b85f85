"""Quantizing a real SavedModel to TensorFlow Lite with each method, and the evaluation that
tells what it cost (no S3: local folders only)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from modelship.training.errors import TrainingError
from modelship.training.quantization import (
    QUANTIZATIONS,
    TFLITE_FILE,
    convert,
    evaluate,
    read_evaluation_data,
    saved_model_predictor,
    score,
    tflite_predictor,
)
from tests.models import write_classifier, write_classifier_evaluation

DTYPES = {"x": "float32"}


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.fixture(scope="module")
def robust(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("robust")
    model = write_classifier(folder / "model")
    return model, write_classifier_evaluation(model, folder / "eval.npz")


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("fragile")
    model = write_classifier(folder / "model", fragile=True)
    return model, write_classifier_evaluation(model, folder / "eval.npz")


@pytest.mark.tf
@pytest.mark.parametrize("method", QUANTIZATIONS)
def test_each_method_keeps_a_robust_models_answers_and_shrinks_it(
    robust: tuple[Path, Path], method: str, tmp_path: Path
) -> None:
    model, evaluation = robust
    data = read_evaluation_data(evaluation.read_bytes(), str(evaluation))
    converted = convert(model, method, tmp_path, data)  # type: ignore[arg-type]
    assert converted == tmp_path / TFLITE_FILE
    source = evaluate(saved_model_predictor(model), data, DTYPES)
    derived = evaluate(tflite_predictor(converted), data, DTYPES)
    assert source == {"accuracy": 1.0}
    assert derived["accuracy"] >= 0.95
    float32_weights = 256 * 8 * 4
    limit = float32_weights * (0.5 if method == "Float16" else 0.25)
    # The flatbuffer adds a little around the weights.
    assert converted.stat().st_size < limit + 2048


@pytest.mark.tf
def test_int8_quantizes_the_activations_too(robust: tuple[Path, Path], tmp_path: Path) -> None:
    model, evaluation = robust
    data = read_evaluation_data(evaluation.read_bytes(), str(evaluation))
    converted = convert(model, "Int8", tmp_path, data)
    from modelship.training.quantization import tflite_interpreter

    interpreter = tflite_interpreter(converted.read_bytes())
    types = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in types
    # ...while clients still send and receive float32.
    runner = interpreter.get_signature_runner("serving_default")
    assert runner.get_input_details()["x"]["dtype"] == np.float32
    assert runner.get_output_details()["probabilities"]["dtype"] == np.float32


@pytest.mark.tf
def test_a_fragile_model_loses_its_accuracy_and_the_evaluation_shows_it(
    fragile: tuple[Path, Path], tmp_path: Path
) -> None:
    model, evaluation = fragile
    data = read_evaluation_data(evaluation.read_bytes(), str(evaluation))
    converted = convert(model, "DynamicRange", tmp_path, data)
    assert evaluate(saved_model_predictor(model), data, DTYPES) == {"accuracy": 1.0}
    assert evaluate(tflite_predictor(converted), data, DTYPES)["accuracy"] < 0.5


def test_accuracy_for_integer_labels_and_mse_for_float_ones() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert score(probabilities, np.array([0, 1, 1, 1])) == {"accuracy": 0.75}
    assert score(np.array([[0.7], [0.2]]), np.array([1, 1])) == {"accuracy": 0.5}
    assert score(np.array([[1.0], [3.0]]), np.array([1.0, 1.0])) == {"mse": 2.0}


def test_evaluation_data_without_labels_has_no_metrics() -> None:
    data = read_evaluation_data(npz(x=np.zeros((3, 4), np.float32)), "eval.npz")
    assert data.labels is None and data.rows == 3
    assert evaluate(lambda inputs: {"y": inputs["x"]}, data, DTYPES) == {}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"not a zip", "not a NumPy .npz file"),
        (npz(labels=np.zeros(3)), "holds no input arrays"),
        (npz(x=np.zeros((3, 4)), labels=np.zeros(2)), "same number of rows (labels: 2, x: 3)"),
    ],
)
def test_unusable_evaluation_data_is_refused_with_what_is_wrong(content: bytes, says: str) -> None:
    with pytest.raises(TrainingError) as caught:
        read_evaluation_data(content, "s3://data/eval.npz")
    assert caught.value.reason == "InvalidEvaluationData"
    assert caught.value.permanent
    assert says in caught.value.message
    assert "s3://data/eval.npz" in caught.value.message
