"""The one module that touches TensorFlow's SavedModels (TensorFlow Lite files are
serving/tflite.py's, chosen by `load_model`): load a SavedModel, describe its signatures, run
them on numpy arrays, warm them up, and serialize tf.train.Example protos for classify and
regress. TensorFlow is imported on first use, so the rest of the server starts without it.

Everything here is synchronous; the server calls it from its single model thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from modelship.api.reasons import MODEL_LOAD_FAILED, WARMUP_FAILED
from modelship.serving.errors import BadRequestError, ModelError
from modelship.serving.model_path import FRAMEWORK_TFLITE, ModelVersionPath
from modelship.serving.signatures import ModelInfo, SignatureInfo, TensorInfo
from modelship.serving.tfserving_api import Feature

log = logging.getLogger(__name__)

SERVE_TAG = "serve"


class ModelLoadError(Exception):
    """The SavedModel cannot be loaded or fails its warm-up; `reason` is a CamelCase word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class ServedModel(Protocol):
    """What the server needs of a model in memory, whatever its format."""

    info: ModelInfo

    def run(
        self, signature: str, inputs: dict[str, np.ndarray[Any, Any]]
    ) -> dict[str, np.ndarray[Any, Any]]: ...

    def warm_up(self) -> list[str]: ...


class LoadedModel:
    """A SavedModel in memory, with its signatures ready to call."""

    def __init__(self, info: ModelInfo, functions: dict[str, Any], owner: Any = None) -> None:
        self.info = info
        self._functions = functions
        self._owner = owner  # the loaded object: it keeps the functions' variables alive

    def run(
        self, signature: str, inputs: dict[str, np.ndarray[Any, Any]]
    ) -> dict[str, np.ndarray[Any, Any]]:
        """Call one signature. An input the model itself refuses (a shape its ops cannot
        take) is a BadRequestError; anything else it raises is a ModelError."""
        import tensorflow as tf

        function = self._functions[signature]
        try:
            result = function(**{key: tf.constant(value) for key, value in inputs.items()})
        except tf.errors.InvalidArgumentError as err:
            raise BadRequestError(
                f"the model refused the input: {op_error_text(err.message)}"
            ) from None
        except (TypeError, ValueError) as err:
            raise BadRequestError(f"the model refused the input: {err}") from None
        except tf.errors.OpError as err:
            raise ModelError(f"the model failed: {op_error_text(err.message)}") from None
        return {key: value.numpy() for key, value in result.items()}

    def warm_up(self) -> list[str]:
        """Run each signature once on zeros of its input shapes (an unknown dimension as 1),
        so the first real request does not pay for tracing and kernel set-up. Signatures
        that take strings (serialized examples) need real data and are skipped."""
        return warm_up_signatures(self.info, self.run)


def op_error_text(message: str) -> str:
    """The sentence of a TensorFlow op error, without the Python stack TF prepends
    ("Graph execution error: Detected at node ... defined at ...") and the node suffix."""
    if "Detected at node" in message:
        # The op's own words follow the last stack frame, after a blank line.
        message = message.rsplit("\n\n", 1)[-1]
    message = message.split("\n\t [[", 1)[0]
    return re.sub(r"\s*\[Op:[^\]]*\]$", "", " ".join(message.split()))


def zero_inputs(signature: SignatureInfo) -> dict[str, np.ndarray[Any, Any]] | None:
    """Zeros shaped like the signature's inputs; None when one is a string or has an
    unknown rank."""
    inputs = {}
    for tensor in signature.inputs:
        if tensor.shape is None or tensor.dtype == "string":
            return None
        shape = tuple(1 if d is None else d for d in tensor.shape)
        inputs[tensor.key] = np.zeros(shape, dtype=tensor.dtype)
    return inputs


def load_model(name: str, where: ModelVersionPath) -> ServedModel:
    """Load the model at `where` in its format and describe it; ModelLoadError says why not."""
    if where.framework == FRAMEWORK_TFLITE:
        from modelship.serving.tflite import load_tflite_model  # it imports this module

        return load_tflite_model(name, where)
    return load_saved_model(name, where)


def load_saved_model(name: str, where: ModelVersionPath) -> LoadedModel:
    """Load the SavedModel at `where` and describe it; ModelLoadError says why not."""
    import tensorflow as tf

    signatures = read_signatures(where.path)
    try:
        loaded = tf.saved_model.load(str(where.path), tags=[SERVE_TAG])
    except Exception as err:
        raise ModelLoadError(
            MODEL_LOAD_FAILED, f"TensorFlow could not load {where.path}: {err}"
        ) from err
    functions = {}
    for signature in signatures:
        if signature.key not in loaded.signatures:
            raise ModelLoadError(
                MODEL_LOAD_FAILED,
                f"signature '{signature.key}' of {where.path} cannot be called once loaded.",
            )
        functions[signature.key] = loaded.signatures[signature.key]
    info = ModelInfo(
        name=name, version=where.version, path=str(where.path), signatures=tuple(signatures)
    )
    return LoadedModel(info, functions, owner=loaded)


def read_signatures(folder: Path) -> list[SignatureInfo]:
    """The signature_def map of the SavedModel's `serve` graph, as TF Serving shows it."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    binary, text = folder / "saved_model.pb", folder / "saved_model.pbtxt"
    try:
        if binary.is_file():
            saved_model.ParseFromString(binary.read_bytes())
        else:
            text_format.Parse(text.read_text(), saved_model)
    except Exception as err:
        raise ModelLoadError(
            MODEL_LOAD_FAILED, f"{folder} does not hold a readable SavedModel: {err}"
        ) from err
    graphs = [g for g in saved_model.meta_graphs if SERVE_TAG in g.meta_info_def.tags]
    if not graphs:
        raise ModelLoadError(
            MODEL_LOAD_FAILED, f"the SavedModel in {folder} has no graph tagged '{SERVE_TAG}'."
        )
    signatures = [
        SignatureInfo(
            key=key,
            method_name=definition.method_name,
            inputs=_tensors(definition.inputs),
            outputs=_tensors(definition.outputs),
        )
        for key, definition in sorted(graphs[0].signature_def.items())
        # TF2 records its initializer as a pseudo-signature; it is not callable by clients.
        if not key.startswith("__")
    ]
    if not signatures:
        raise ModelLoadError(MODEL_LOAD_FAILED, f"the SavedModel in {folder} has no signatures.")
    return signatures


def _tensors(infos: Any) -> tuple[TensorInfo, ...]:
    import tensorflow as tf

    tensors = []
    for key, info in sorted(infos.items()):
        shape: tuple[int | None, ...] | None = None
        if not info.tensor_shape.unknown_rank:
            shape = tuple(None if d.size < 0 else d.size for d in info.tensor_shape.dim)
        tensors.append(
            TensorInfo(
                key=key,
                dtype=tf.dtypes.as_dtype(info.dtype).name,
                shape=shape,
                tensor_name=info.name,
            )
        )
    return tuple(tensors)


def serialize_examples(examples: tuple[dict[str, Feature], ...]) -> np.ndarray[Any, Any]:
    """tf.train.Example protos, serialized: the string tensor classify/regress take."""
    from tensorflow.core.example import example_pb2

    serialized = np.empty(len(examples), dtype=object)
    for index, features in enumerate(examples):
        example = example_pb2.Example()
        for name, (kind, values) in features.items():
            feature = example.features.feature[name]
            try:
                if kind == "int64":
                    feature.int64_list.value.extend(values)
                elif kind == "float":
                    feature.float_list.value.extend(values)
                else:
                    feature.bytes_list.value.extend(values)
            except (ValueError, TypeError) as err:
                raise BadRequestError(f"examples[{index}] feature '{name}': {err}") from None
        serialized[index] = example.SerializeToString()
    return serialized


def warm_up_signatures(
    info: ModelInfo, run: Callable[[str, dict[str, np.ndarray]], object]
) -> list[str]:
    """Runs each signature of a loaded model once on zeros; ModelLoadError (WarmupFailed)
    names the signature that failed. Returns the signatures warmed."""
    warmed = []
    for signature in info.signatures:
        inputs = zero_inputs(signature)
        if inputs is None:
            continue
        try:
            run(signature.key, inputs)
        except Exception as err:
            raise ModelLoadError(
                WARMUP_FAILED,
                f"signature '{signature.key}' of {info.path} failed on a zero input: "
                f"{getattr(err, 'message', err)}",
            ) from err
        warmed.append(signature.key)
    return warmed
