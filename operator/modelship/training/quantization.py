"""Post-training quantization of a SavedModel into TensorFlow Lite, and the evaluation that
says what it cost: the same evaluation data run through the source and the converted model.

Three methods (`spec.optimize.quantization`), all with tf.lite.TFLiteConverter:
- Float16: weights stored as float16, computed in float32 (half the size, tiny error).
- DynamicRange: weights stored as int8, activations quantized on the fly (a quarter of the
  size, faster matrix products on CPUs).
- Int8: weights and activations int8, their ranges calibrated on a representative sample
  of the evaluation data; inputs and outputs stay float32 so clients send the same JSON.

The evaluation data is a NumPy `.npz` file: one array per input of the serving signature,
named like the input, and optionally `labels` (integers: accuracy is measured; floats: mean
squared error). TensorFlow and the TFLite runtime are imported only when used.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from modelship.training.errors import INVALID_EVALUATION_DATA, OPTIMIZATION_FAILED, TrainingError

Quantization = Literal["Float16", "DynamicRange", "Int8"]
QUANTIZATIONS: Final[tuple[Quantization, ...]] = ("Float16", "DynamicRange", "Int8")
TFLITE_FILE: Final = "model.tflite"
FRAMEWORK_TFLITE: Final = "tflite"
SERVING_SIGNATURE: Final = "serving_default"
LABELS_KEY: Final = "labels"
# Int8 calibrates activation ranges on this many rows of the evaluation data: enough for
# stable min/max estimates, few enough to convert in seconds.
CALIBRATION_ROWS: Final = 200
_EVAL_BATCH: Final = 256
_MAX_EVAL_BYTES: Final = 1024 * 1024 * 1024  # an evaluation file is a sample, not a dataset

Arrays = dict[str, np.ndarray[Any, Any]]
Predict = Callable[[Arrays], Arrays]


@dataclass(frozen=True)
class EvaluationData:
    """Rows to evaluate on: inputs by signature input name, labels (or None) by row."""

    inputs: Arrays
    labels: np.ndarray[Any, Any] | None

    @property
    def rows(self) -> int:
        return len(next(iter(self.inputs.values())))


def read_evaluation_data(data: bytes, where: str) -> EvaluationData:
    """Parse an `.npz` evaluation file; InvalidEvaluationData says what is wrong with it."""
    if len(data) > _MAX_EVAL_BYTES:
        raise _invalid_data(where, "it is larger than 1 GiB; keep a sample of the data")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise _invalid_data(where, f"it is not a NumPy .npz file ({err})") from None
    labels = arrays.pop(LABELS_KEY, None)
    if not arrays:
        raise _invalid_data(where, "it holds no input arrays")
    lengths = {name: len(array) if array.ndim else 0 for name, array in arrays.items()}
    if labels is not None:
        lengths[LABELS_KEY] = len(labels) if labels.ndim else 0
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        sizes = ", ".join(f"{name}: {n}" for name, n in sorted(lengths.items()))
        raise _invalid_data(where, f"its arrays must have the same number of rows ({sizes})")
    return EvaluationData(arrays, labels)


def check_inputs(data: EvaluationData, inputs: Mapping[str, str], where: str) -> None:
    """The file must hold exactly the signature's inputs (name -> dtype)."""
    if set(data.inputs) != set(inputs):
        raise _invalid_data(
            where,
            f"its arrays are {sorted(data.inputs)} but the model's inputs are {sorted(inputs)} "
            f"(besides an optional {LABELS_KEY!r})",
        )


def convert(
    saved_model: Path,
    method: Quantization,
    output: Path,
    representative: EvaluationData | None = None,
) -> Path:
    """Convert the SavedModel's serving signature to `output/model.tflite` with `method`;
    Int8 needs `representative` rows. OptimizationFailed carries the converter's words."""
    import tensorflow as tf

    if method not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {method!r}; one of {', '.join(QUANTIZATIONS)}")
    # From the loaded signature rather than from_saved_model: that path keeps the variables
    # as READ_VARIABLE ops nothing initializes (a Keras model wrapped in a tf.Module then
    # predicts with zero weights); a concrete function's variables are frozen into constants.
    loaded = tf.saved_model.load(str(saved_model))
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [loaded.signatures[SERVING_SIGNATURE]], loaded
    )
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if method == "Float16":
        converter.target_spec.supported_types = [tf.float16]
    elif method == "Int8":
        if representative is None:
            raise ValueError("Int8 quantization needs representative rows to calibrate on")
        converter.representative_dataset = lambda: _calibration_rows(representative)
        # Every op in int8, or the conversion fails and says which op cannot be; the
        # inputs and outputs stay float32 (quantized at the edges) so requests do not change.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        flatbuffer = converter.convert()
    except Exception as err:  # the converter raises ConverterError, ValueError, RuntimeError
        text = " ".join(str(err).split())[:800]
        raise TrainingError(
            OPTIMIZATION_FAILED,
            f"TensorFlow Lite could not convert the model with {method} quantization: {text}",
            permanent=True,
        ) from None
    output.mkdir(parents=True, exist_ok=True)
    target = output / TFLITE_FILE
    target.write_bytes(flatbuffer)
    return target


def _calibration_rows(data: EvaluationData) -> Iterator[dict[str, np.ndarray[Any, Any]]]:
    """One row at a time (batch 1), as the converter's calibration expects: a dict keyed by
    the signature's input names."""
    for row in range(min(CALIBRATION_ROWS, data.rows)):
        yield {name: array[row : row + 1] for name, array in data.inputs.items()}


def saved_model_predictor(saved_model: Path) -> Predict:
    """Run the SavedModel's serving signature (float inputs as in the file)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(saved_model))
    function = loaded.signatures[SERVING_SIGNATURE]

    def predict(inputs: Arrays) -> Arrays:
        result = function(**{name: tf.constant(value) for name, value in inputs.items()})
        return {name: value.numpy() for name, value in result.items()}

    predict.owner = loaded  # type: ignore[attr-defined]  # keeps the variables alive
    return predict


def tflite_predictor(model_file: Path) -> Predict:
    """Run the .tflite model's serving signature with the runtime the server uses."""
    runner = tflite_interpreter(model_file.read_bytes()).get_signature_runner(SERVING_SIGNATURE)

    def predict(inputs: Arrays) -> Arrays:
        return {name: np.asarray(value) for name, value in runner(**inputs).items()}

    return predict


def tflite_interpreter(model: bytes) -> Any:
    """LiteRT's interpreter (pip ai-edge-litert) when installed, else TensorFlow's own
    tf.lite.Interpreter: the same kernels, so the same numbers."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tensorflow.lite.python.interpreter import Interpreter
    return Interpreter(model_content=model)


def evaluate(predict: Predict, data: EvaluationData, dtypes: Mapping[str, str]) -> dict[str, float]:
    """The metrics of `predict` on `data`: accuracy for integer labels (argmax of the only
    output, or > 0.5 for one column), mse for float labels; none without labels.
    `dtypes` (input name -> dtype) casts the file's arrays to what the model takes."""
    if data.labels is None:
        return {}
    outputs: list[np.ndarray[Any, Any]] = []
    for start in range(0, data.rows, _EVAL_BATCH):
        batch = {
            name: np.asarray(array[start : start + _EVAL_BATCH], dtype=dtypes.get(name))
            for name, array in data.inputs.items()
        }
        result = predict(batch)
        if len(result) != 1:
            raise TrainingError(
                INVALID_EVALUATION_DATA,
                f"the model has {len(result)} outputs ({', '.join(sorted(result))}); the "
                "built-in metrics need a model with one output.",
                permanent=True,
            )
        outputs.append(next(iter(result.values())))
    predictions = np.concatenate(outputs).astype(np.float64)
    return score(predictions, data.labels)


def score(predictions: np.ndarray[Any, Any], labels: np.ndarray[Any, Any]) -> dict[str, float]:
    """accuracy (integer labels) or mse (float labels) of predictions against labels."""
    if np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_:
        if predictions.ndim > 1 and predictions.shape[-1] > 1:
            chosen = predictions.argmax(axis=-1)
        else:
            chosen = (predictions.reshape(len(predictions)) > 0.5).astype(np.int64)
        return {"accuracy": float(np.mean(chosen == labels.reshape(len(labels))))}
    expected = labels.astype(np.float64).reshape(predictions.shape)
    return {"mse": float(np.mean((predictions - expected) ** 2))}


def _invalid_data(where: str, problem: str) -> TrainingError:
    return TrainingError(
        INVALID_EVALUATION_DATA,
        f"the evaluation data {where} cannot be used: {problem}. It must be a NumPy .npz "
        f"file with one array per model input (by name) and optionally {LABELS_KEY!r}.",
        permanent=True,
    )
