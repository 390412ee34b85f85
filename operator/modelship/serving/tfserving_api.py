"""TensorFlow Serving's REST API as pure functions: route paths, request bodies in, response
bodies out. No I/O here; the server calls these around one model run.

Requests: `:predict` in the row form (`instances`) or the columnar form (`inputs`),
`:classify` and `:regress` with `examples` (and an optional shared `context`).
Responses: `predictions` / `outputs` / `result`, the model status and the metadata, in the
shapes TF Serving itself answers with, so existing clients keep working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from modelship.serving.errors import (
    BadRequestError,
    MethodNotAllowedError,
    ModelError,
    NotFoundError,
)
from modelship.serving.signatures import (
    CLASSES_OUTPUT,
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    EXAMPLES_INPUT,
    REGRESS_METHOD,
    REGRESS_OUTPUT,
    SCORES_OUTPUT,
    ModelInfo,
    SignatureInfo,
    TensorInfo,
    dtype_named,
)
from modelship.serving.tensors import array_from_json, check_shape, json_from_array, shape_text

Verb = Literal["status", "metadata", "predict", "classify", "regress"]
POST_VERBS: Final = ("predict", "classify", "regress")

SIGNATURE_DEF_MAP_TYPE: Final = "type.googleapis.com/tensorflow.serving.SignatureDefMap"

# TF Serving's model states (ModelVersionStatus.State).
LOADING: Final = "LOADING"
AVAILABLE: Final = "AVAILABLE"
UNLOADING: Final = "UNLOADING"

_V1_PATH = re.compile(
    r"^(?P<model>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?:/(?P<sub>[^/:]+))?(?::(?P<verb>\w+))?$"
)


@dataclass(frozen=True)
class V1Route:
    """What a path under /v1/models/ asks for."""

    model: str
    version: int | None
    verb: Verb


@dataclass(frozen=True)
class PredictRequest:
    """A parsed `:predict` body: the signature to run and its input arrays."""

    signature: SignatureInfo
    inputs: dict[str, np.ndarray[Any, Any]]
    columnar: bool
    rows: int | None  # the shared first dimension when the inputs can join a batch


# One tf.train.Example feature: its list kind and its values.
FeatureKind = Literal["int64", "float", "bytes"]
Feature = tuple[FeatureKind, tuple[Any, ...]]


@dataclass(frozen=True)
class ExamplesRequest:
    """A parsed `:classify` or `:regress` body: tf.train.Example features, context merged."""

    signature: SignatureInfo
    examples: tuple[dict[str, Feature], ...]


def parse_v1_path(tail: str, method: str) -> V1Route:
    """Route `tail` (the path after /v1/models/) for an HTTP `method`, e.g.
    "digits/versions/3:predict" -> V1Route("digits", 3, "predict")."""
    if "/labels/" in tail:
        raise NotFoundError("version labels are not supported; address a version by number")
    match = _V1_PATH.match(tail)
    if not match:
        raise NotFoundError(f"no such route: /v1/models/{tail}")
    sub, verb_word = match["sub"], match["verb"]
    if sub not in (None, "metadata") or (sub and verb_word):
        raise NotFoundError(f"no such route: /v1/models/{tail}")
    version = None
    if match["version"] is not None:
        if not match["version"].isdigit():
            raise BadRequestError(f"version '{match['version']}' is not a number")
        version = int(match["version"])
    verb: Verb
    if verb_word is None:
        verb = "metadata" if sub == "metadata" else "status"
        if method != "GET":
            raise _wrong_method(method, tail, "GET")
    elif verb_word in POST_VERBS:
        verb = verb_word  # type: ignore[assignment]
        if method != "POST":
            raise _wrong_method(method, tail, "POST")
    else:
        raise NotFoundError(
            f"unknown method ':{verb_word}'; the model answers :predict, :classify and :regress"
        )
    return V1Route(model=match["model"], version=version, verb=verb)


def _wrong_method(method: str, tail: str, allowed: str) -> MethodNotAllowedError:
    return MethodNotAllowedError(f"/v1/models/{tail} answers {allowed}, not {method}")


def request_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestError(
            'the request body must be a JSON object, such as {"instances": [...]}'
        )
    return body


def signature_name(body: dict[str, Any]) -> str | None:
    name = body.get("signature_name")
    if name is not None and not isinstance(name, str):
        raise BadRequestError("'signature_name' must be a string")
    return name or None


def parse_predict_request(body: Any, model: ModelInfo) -> PredictRequest:
    """Validate a `:predict` body against the model's signature; BadRequestError names the
    problem (missing or unknown input, wrong dtype, wrong shape, ragged rows)."""
    document = request_object(body)
    has_rows, has_columns = "instances" in document, "inputs" in document
    if has_rows and has_columns:
        raise BadRequestError(
            "send either 'instances' (row format) or 'inputs' (columnar), not both"
        )
    if not has_rows and not has_columns:
        raise BadRequestError("the request needs 'instances' (row format) or 'inputs' (columnar)")
    signature = model.signature(signature_name(document))
    if has_rows:
        return _parse_rows(document["instances"], signature)
    return _parse_columns(document["inputs"], signature)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _is_named(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _input_keys(signature: SignatureInfo) -> str:
    return ", ".join(t.key for t in signature.inputs) or "none"


def _check_input_names(names: Any, signature: SignatureInfo, where: str) -> None:
    for name in names:
        if signature.input_named(name) is None:
            raise BadRequestError(
                f"{where} has unknown input '{name}'; signature '{signature.key}' takes "
                f"inputs: {_input_keys(signature)}"
            )
    for spec in signature.inputs:
        if spec.key not in names:
            raise BadRequestError(f"{where} is missing input '{spec.key}'")


def _parse_rows(instances: Any, signature: SignatureInfo) -> PredictRequest:
    if not isinstance(instances, list):
        raise BadRequestError("'instances' must be a list with one entry per row")
    if not instances:
        raise BadRequestError("'instances' is empty; send at least one instance")
    named = [_is_named(i) for i in instances]
    if any(named) and not all(named):
        raise BadRequestError("'instances' mixes objects and plain values; use one form for all")
    if all(named):
        for index, instance in enumerate(instances):
            _check_input_names(instance, signature, f"instances[{index}]")
        columns = {t.key: [i[t.key] for i in instances] for t in signature.inputs}
    elif len(signature.inputs) == 1:
        columns = {signature.inputs[0].key: instances}
    else:
        keys = ", ".join(f'"{t.key}": ...' for t in signature.inputs)
        raise BadRequestError(
            f"signature '{signature.key}' takes {len(signature.inputs)} inputs: each instance "
            f"must be an object naming them, such as {{{keys}}}"
        )
    rows = len(instances)
    inputs = {}
    for spec in signature.inputs:
        what = f"input '{spec.key}'"
        array = array_from_json(columns[spec.key], spec, what)
        hint = f" ({rows} instances of shape {shape_text(array.shape[1:])})"
        check_shape(array.shape, spec, what, hint)
        inputs[spec.key] = array
    return PredictRequest(signature=signature, inputs=inputs, columnar=False, rows=rows)


def _parse_columns(raw: Any, signature: SignatureInfo) -> PredictRequest:
    if _is_named(raw):
        columns = raw
    elif len(signature.inputs) == 1:
        columns = {signature.inputs[0].key: raw}
    else:
        raise BadRequestError(
            f"signature '{signature.key}' takes {len(signature.inputs)} inputs: 'inputs' must "
            f"be an object naming them ({_input_keys(signature)})"
        )
    _check_input_names(columns, signature, "'inputs'")
    inputs = {}
    for spec in signature.inputs:
        what = f"input '{spec.key}'"
        array = array_from_json(columns[spec.key], spec, what)
        check_shape(array.shape, spec, what)
        inputs[spec.key] = array
    return PredictRequest(
        signature=signature, inputs=inputs, columnar=True, rows=batch_rows(signature, inputs)
    )


def batch_rows(signature: SignatureInfo, inputs: dict[str, np.ndarray[Any, Any]]) -> int | None:
    """How many rows the inputs add to a batch; None when they cannot join one (the
    signature has no batch dimension, or the inputs disagree on their first dimension)."""
    if not signature.batchable:
        return None
    sizes = {a.shape[0] if a.ndim else None for a in inputs.values()}
    if len(sizes) != 1:
        return None
    (rows,) = sizes
    return rows if rows else None


def predict_response(
    request: PredictRequest, outputs: dict[str, np.ndarray[Any, Any]]
) -> dict[str, Any]:
    """`{"predictions": ...}` for the row form, `{"outputs": ...}` for the columnar form;
    one output is written bare, several as objects keyed by output name."""
    keys = sorted(outputs)
    if request.columnar:
        if len(keys) == 1:
            return {"outputs": json_from_array(outputs[keys[0]], keys[0])}
        return {"outputs": {k: json_from_array(outputs[k], k) for k in keys}}
    rows = request.rows or 0
    for key in keys:
        array = outputs[key]
        if array.ndim == 0 or array.shape[0] != rows:
            raise ModelError(
                f"output '{key}' has shape {shape_text(array.shape)}, not one row per instance "
                f"({rows}); ask with the columnar 'inputs' format instead"
            )
    if len(keys) == 1:
        return {"predictions": json_from_array(outputs[keys[0]], keys[0])}
    columns = {k: json_from_array(outputs[k], k) for k in keys}
    return {"predictions": [{k: columns[k][i] for k in keys} for i in range(rows)]}


def parse_examples_request(body: Any, model: ModelInfo, verb: Verb) -> ExamplesRequest:
    """Validate a `:classify` / `:regress` body; the signature must have been exported
    for that method (TF Serving's rule), else BadRequestError says which signatures can."""
    document = request_object(body)
    signature = examples_signature(model, verb, signature_name(document))
    examples = document.get("examples")
    if not isinstance(examples, list) or not examples:
        raise BadRequestError("'examples' must be a non-empty list of objects (feature -> value)")
    context = document.get("context", {})
    if not isinstance(context, dict):
        raise BadRequestError("'context' must be an object of feature -> value")
    shared = {
        name: parse_feature(value, f"context feature '{name}'") for name, value in context.items()
    }
    parsed = []
    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            raise BadRequestError(f"examples[{index}] must be an object of feature -> value")
        features = dict(shared)
        for name, value in example.items():
            if name in shared:
                raise BadRequestError(
                    f"examples[{index}] has feature '{name}', which 'context' already sets"
                )
            features[name] = parse_feature(value, f"examples[{index}] feature '{name}'")
        parsed.append(features)
    return ExamplesRequest(signature=signature, examples=tuple(parsed))


def examples_signature(model: ModelInfo, verb: str, wanted: str | None) -> SignatureInfo:
    """The signature a classify/regress call runs: the one named, else serving_default or
    the first exported for that method. It must have been exported for that method (TF
    Serving's rule); BadRequestError says which signatures can."""
    method = CLASSIFY_METHOD if verb == "classify" else REGRESS_METHOD
    able = sorted(s.key for s in model.signatures if s.method_name == method)
    if wanted is None and DEFAULT_SIGNATURE not in able and able:
        wanted = able[0]
    signature = model.signature(wanted)
    if signature.method_name != method:
        offer = (
            f"signatures that can: {', '.join(able)}"
            if able
            else f"this model has no {verb} signature"
        )
        raise BadRequestError(
            f":{verb} needs a signature exported with method_name {method}, but signature "
            f"'{signature.key}' has method_name {signature.method_name or 'none'}; {offer}"
        )
    return signature


def parse_feature(value: Any, what: str) -> Feature:
    """A JSON feature value as a tf.train.Example feature: integers -> int64_list, numbers
    -> float_list, strings and {"b64": ...} -> bytes_list; a list holds one kind."""
    values = value if isinstance(value, list) else [value]
    if any(isinstance(v, list) for v in values):
        raise BadRequestError(f"{what} must be a value or a flat list of values")
    if any(isinstance(v, str) or _is_b64(v) for v in values):
        strings = array_from_json(values, TensorInfo(key="", dtype="string", shape=None), what)
        return "bytes", tuple(strings.tolist())
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
        raise BadRequestError(f'{what} must hold numbers, strings or {{"b64": ...}} values')
    if all(isinstance(v, int) for v in values):
        return "int64", tuple(values)
    return "float", tuple(float(v) for v in values)


def classify_response(outputs: dict[str, np.ndarray[Any, Any]], count: int) -> dict[str, Any]:
    """`{"result": [[[label, score], ...], ...]}`, one list of classes per example."""
    classes = outputs.get(CLASSES_OUTPUT)
    scores = outputs.get(SCORES_OUTPUT)
    if classes is None and scores is None:
        raise ModelError(
            f"the classify signature returned neither '{CLASSES_OUTPUT}' nor '{SCORES_OUTPUT}'"
        )
    labels = None if classes is None else _per_example(classes, CLASSES_OUTPUT, count)
    values = None if scores is None else _per_example(scores, SCORES_OUTPUT, count)
    width = (labels if labels is not None else values).shape[1]  # type: ignore[union-attr]
    result = []
    for row in range(count):
        pairs = []
        for column in range(width):
            label = "" if labels is None else labels[row, column]
            if isinstance(label, bytes):
                label = label.decode("utf-8", errors="replace")
            score = 0.0 if values is None else float(values[row, column])
            pairs.append([label, score])
        result.append(pairs)
    return {"result": result}


def regress_response(outputs: dict[str, np.ndarray[Any, Any]], count: int) -> dict[str, Any]:
    """`{"result": [value, ...]}`, one number per example."""
    values = outputs.get(REGRESS_OUTPUT)
    if values is None:
        raise ModelError(f"the regress signature returned no '{REGRESS_OUTPUT}' output")
    column = _per_example(values, REGRESS_OUTPUT, count)
    if column.shape[1] != 1:
        raise ModelError(f"output '{REGRESS_OUTPUT}' has {column.shape[1]} values per example")
    return {"result": [float(v) for v in column[:, 0]]}


def _per_example(array: np.ndarray[Any, Any], key: str, count: int) -> np.ndarray[Any, Any]:
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[0] != count:
        raise ModelError(
            f"output '{key}' has shape {shape_text(array.shape)}; expected one row per "
            f"example ({count})"
        )
    return array


def examples_input(signature: SignatureInfo) -> TensorInfo:
    """The string tensor a classify/regress signature takes its serialized examples in."""
    spec = signature.input_named(EXAMPLES_INPUT)
    if spec is None and len(signature.inputs) == 1:
        spec = signature.inputs[0]
    if spec is None or spec.dtype != "string":
        raise ModelError(
            f"signature '{signature.key}' does not take serialized examples in a string input"
        )
    return spec


def version_status(version: int | None, state: str, error: str = "") -> dict[str, Any]:
    """GET /v1/models/<m>: the version's state as TF Serving reports it."""
    if version is None:
        return {"model_version_status": []}
    return {
        "model_version_status": [
            {
                "version": str(version),
                "state": state,
                "status": {"error_code": "UNKNOWN" if error else "OK", "error_message": error},
            }
        ]
    }


def model_metadata(model: ModelInfo) -> dict[str, Any]:
    """GET /v1/models/<m>/metadata: the signature_def map in TF Serving's JSON shape."""
    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
        "metadata": {
            "signature_def": {
                # TF Serving writes the Any's type URL; clients that unpack it look for it.
                "@type": SIGNATURE_DEF_MAP_TYPE,
                "signature_def": {s.key: _signature_def(s) for s in model.signatures},
            }
        },
    }


def _signature_def(signature: SignatureInfo) -> dict[str, Any]:
    return {
        "inputs": {t.key: _tensor_info(t) for t in signature.inputs},
        "outputs": {t.key: _tensor_info(t) for t in signature.outputs},
        "method_name": signature.method_name,
        "defaults": {},
    }


def _tensor_info(tensor: TensorInfo) -> dict[str, Any]:
    dtype = dtype_named(tensor.dtype)
    shape: dict[str, Any]
    if tensor.shape is None:
        shape = {"dim": [], "unknown_rank": True}
    else:
        dims = [{"size": str(-1 if d is None else d), "name": ""} for d in tensor.shape]
        shape = {"dim": dims, "unknown_rank": False}
    return {
        "dtype": dtype.enum if dtype else "DT_" + tensor.dtype.upper(),
        "tensor_shape": shape,
        "name": tensor.tensor_name,
    }
