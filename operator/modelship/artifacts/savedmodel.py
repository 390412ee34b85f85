"""What a TensorFlow SavedModel offers, read by loading it (TensorFlow is imported here only,
and only when a model is inspected, so pulling and listing never pay for it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.api.reasons import INVALID_BASELINE
from modelship.artifacts.baseline import Baseline
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


def sample_baseline(model_dir: Path, sample: Any, batch_rows: int = 1024) -> Baseline:
    """The drift baseline of a sample of the model's inputs: the inputs' features and the
    serving signature's outputs for them (prediction drift). `sample` is an array (for a
    model with one input) or a mapping of input name -> array, rows along axis 0.
    InvalidBaseline when it does not fit the serving signature."""
    import numpy as np

    from modelship.artifacts.features import make_baseline

    try:
        import tensorflow as tf
    except ImportError:
        raise ArtifactError(
            INVALID_MODEL, "TensorFlow is not installed, so the baseline cannot be computed."
        ) from None
    loaded = tf.saved_model.load(str(model_dir))
    function = loaded.signatures.get(SERVING_SIGNATURE)
    if function is None:
        raise ArtifactError(INVALID_MODEL, f"the SavedModel has no {SERVING_SIGNATURE!r} signature")
    _, specs = function.structured_input_signature
    inputs = _sample_inputs(sample, specs)
    rows = {len(v) for v in inputs.values()}
    if len(rows) != 1 or 0 in rows:
        raise ArtifactError(
            INVALID_BASELINE, "the baseline sample needs rows, the same number in every input."
        )
    count = rows.pop()
    outputs: dict[str, list[Any]] = {}
    try:
        for start in range(0, count, batch_rows):
            chunk = {
                name: tf.constant(value[start : start + batch_rows], dtype=specs[name].dtype)
                for name, value in inputs.items()
            }
            result = function(**chunk)
            for name, tensor in result.items():
                outputs.setdefault(name, []).append(tensor.numpy())
    except Exception as err:  # TF raises many types for a sample of the wrong shape
        raise ArtifactError(
            INVALID_BASELINE,
            f"the serving signature refused the baseline sample: {' '.join(str(err).split())}",
        ) from None
    joined = {name: np.concatenate(parts) for name, parts in outputs.items()}
    try:
        return make_baseline(inputs, joined)
    except ValueError as err:
        raise ArtifactError(INVALID_BASELINE, f"no baseline from this sample: {err}.") from None


def _sample_inputs(sample: Any, specs: Mapping[str, Any]) -> dict[str, Any]:
    import numpy as np

    if not isinstance(sample, Mapping):
        if len(specs) != 1:
            raise ArtifactError(
                INVALID_BASELINE,
                f"the serving signature has {len(specs)} inputs ({', '.join(sorted(specs))}); "
                "give the baseline sample as a mapping of input name -> array.",
            )
        sample = {next(iter(specs)): sample}
    unknown = sorted(set(sample) - set(specs))
    missing = sorted(set(specs) - set(sample))
    if unknown or missing:
        raise ArtifactError(
            INVALID_BASELINE,
            f"the baseline sample's inputs ({', '.join(sorted(sample)) or 'none'}) are not the "
            f"serving signature's ({', '.join(sorted(specs))}).",
        )
    return {name: np.asarray(value) for name, value in sample.items()}
