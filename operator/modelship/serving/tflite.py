"""TensorFlow Lite versions (made by `modelship optimize`): load a `.tflite` file with LiteRT
(pip ai-edge-litert; TensorFlow's own tf.lite.Interpreter when LiteRT is not installed),
describe its signatures as the SavedModel loader does, and run them on numpy arrays, so the
REST, v2 and gRPC answers are the same whichever format a version has.

An interpreter is not thread-safe; the server calls it from its single model thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelship.api.reasons import MODEL_LOAD_FAILED
from modelship.serving.errors import BadRequestError, ModelError
from modelship.serving.model import ModelLoadError, warm_up_signatures
from modelship.serving.model_path import TFLITE_FILE, ModelVersionPath
from modelship.serving.signatures import PREDICT_METHOD, ModelInfo, SignatureInfo, TensorInfo

TFLITE_PLATFORM = "tflite"  # what v2 model metadata says (Triton's name for the format)


def tflite_interpreter(model: bytes) -> Any:
    """LiteRT's interpreter when installed, else TensorFlow's (the same kernels)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tensorflow.lite.python.interpreter import Interpreter
    return Interpreter(model_content=model)


class TfliteModel:
    """A .tflite model in memory, with its signature runners ready to call. It offers what
    the server uses of a LoadedModel: `info`, `run` and `warm_up`."""

    def __init__(self, info: ModelInfo, runners: dict[str, Any], owner: Any) -> None:
        self.info = info
        self._runners = runners
        self._owner = owner  # the interpreter: the runners live as long as it does

    def run(
        self, signature: str, inputs: dict[str, np.ndarray[Any, Any]]
    ) -> dict[str, np.ndarray[Any, Any]]:
        """Call one signature. Shapes are checked here, against the signature: the runtime
        would only say that a node "failed to prepare"."""
        spec = self.info.signature(signature)
        for tensor in spec.inputs:
            value = inputs.get(tensor.key)
            if value is not None and not _fits(value.shape, tensor.shape):
                raise BadRequestError(
                    f"the model refused the input: '{tensor.key}' has shape "
                    f"{list(value.shape)} but the model takes {tensor.shape_text()}"
                )
        try:
            result = self._runners[signature](**inputs)
        except ValueError as err:  # a dtype or an input name the model does not take
            raise BadRequestError(f"the model refused the input: {err}") from None
        except RuntimeError as err:
            raise ModelError(f"the model failed: {' '.join(str(err).split())}") from None
        return {key: np.asarray(value) for key, value in result.items()}

    def warm_up(self) -> list[str]:
        """Run each signature once on zeros, so the first request does not pay for
        allocating the interpreter's tensors."""
        return warm_up_signatures(self.info, self.run)


def load_tflite_model(name: str, where: ModelVersionPath) -> TfliteModel:
    """Load `where.path/model.tflite` and describe its signatures; ModelLoadError says why
    not."""
    path: Path = where.path / TFLITE_FILE
    try:
        interpreter = tflite_interpreter(path.read_bytes())
        listed = interpreter.get_signature_list()
        runners = {key: interpreter.get_signature_runner(key) for key in sorted(listed)}
    except Exception as err:  # the runtime raises ValueError or RuntimeError for a bad file
        raise ModelLoadError(
            MODEL_LOAD_FAILED, f"TensorFlow Lite could not load {path}: {err}"
        ) from err
    if not runners:
        raise ModelLoadError(
            MODEL_LOAD_FAILED,
            f"{path} has no signatures; convert it from a SavedModel's serving signature "
            "(modelship optimize does).",
        )
    signatures = tuple(
        SignatureInfo(
            key=key,
            method_name=PREDICT_METHOD,
            inputs=_tensors(runner.get_input_details()),
            outputs=_tensors(runner.get_output_details()),
        )
        for key, runner in runners.items()
    )
    info = ModelInfo(
        name=name,
        version=where.version,
        path=str(where.path),
        signatures=signatures,
        platform=TFLITE_PLATFORM,
    )
    return TfliteModel(info, runners, owner=interpreter)


def _tensors(details: dict[str, dict[str, Any]]) -> tuple[TensorInfo, ...]:
    tensors = []
    for key, detail in sorted(details.items()):
        dims = detail.get("shape_signature")
        if dims is None or len(dims) == 0:
            dims = detail["shape"]
        tensors.append(
            TensorInfo(
                key=key,
                dtype=np.dtype(detail["dtype"]).name,
                shape=tuple(None if int(d) < 0 else int(d) for d in dims),
                tensor_name=str(detail.get("name", "")),
            )
        )
    return tuple(tensors)


def _fits(shape: tuple[int, ...], wanted: tuple[int | None, ...] | None) -> bool:
    if wanted is None:
        return True
    if len(shape) != len(wanted):
        return False
    return all(w is None or w == s for s, w in zip(shape, wanted, strict=True))
