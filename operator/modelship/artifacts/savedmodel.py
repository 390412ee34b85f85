"""What a TensorFlow SavedModel offers, read by loading it (TensorFlow is imported here only,
and only when a model is inspected, so pulling and listing never pay for it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.artifacts.errors import INVALID_MODEL, ArtifactError
from modelship.artifacts.manifest import Signature, TensorSpec

SERVING_SIGNATURE = "serving_default"  # what TF Serving (and modelship serve) call by default


@dataclass(frozen=True)
class ModelInfo:
    """The manifest's description of a model's framework and entry points."""

    framework: str
    framework_version: str
    signatures: tuple[Signature, ...]


def inspect_saved_model(model_dir: Path) -> ModelInfo:
    """Load the SavedModel in `model_dir` and read its signatures; InvalidModel when it is
    not one, does not load, or has no serving signature."""
    if (
        not (model_dir / "saved_model.pb").is_file()
        and not (model_dir / "saved_model.pbtxt").is_file()
    ):
        raise ArtifactError(
            INVALID_MODEL,
            f"{model_dir} is not a TensorFlow SavedModel: it has no saved_model.pb "
            "(save one with tf.saved_model.save).",
        )
    try:
        import tensorflow as tf
    except ImportError:
        raise ArtifactError(
            INVALID_MODEL,
            "TensorFlow is not installed, so the SavedModel cannot be checked; install "
            "modelship with the tf-cpu or tf-gpu extra.",
        ) from None
    try:
        loaded = tf.saved_model.load(str(model_dir))
    except Exception as err:  # TF raises many types for a broken model
        raise ArtifactError(
            INVALID_MODEL, f"the SavedModel in {model_dir} does not load: {err}"
        ) from None
    signatures = {name: _signature(name, fn) for name, fn in loaded.signatures.items()}
    if SERVING_SIGNATURE not in signatures:
        found = ", ".join(sorted(signatures)) or "none"
        raise ArtifactError(
            INVALID_MODEL,
            f"the SavedModel in {model_dir} has no {SERVING_SIGNATURE!r} signature (found: "
            f"{found}); save it with signatures={{{SERVING_SIGNATURE!r}: fn}}.",
        )
    return ModelInfo(
        framework="tensorflow",
        framework_version=str(tf.__version__),
        signatures=tuple(signatures[name] for name in sorted(signatures)),
    )


def _signature(name: str, fn: Any) -> Signature:
    _, input_kwargs = fn.structured_input_signature
    outputs = fn.structured_outputs
    if not isinstance(outputs, dict):  # a bare tensor output is named "output_0" by TF
        outputs = {"output_0": outputs}
    return Signature(
        name=name,
        inputs=tuple(_tensor(key, spec) for key, spec in sorted(input_kwargs.items())),
        outputs=tuple(_tensor(key, spec) for key, spec in sorted(outputs.items())),
    )


def _tensor(name: str, spec: Any) -> TensorSpec:
    shape = spec.shape
    dims = None if shape.rank is None else tuple(shape.as_list())
    return TensorSpec(name=name, dtype=spec.dtype.name, shape=dims)
