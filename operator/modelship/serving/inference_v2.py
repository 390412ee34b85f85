"""The Open Inference Protocol (KServe's "v2" REST protocol) as pure functions: infer
requests in, infer responses and model metadata out.

A tensor is `{"name", "shape", "datatype", "data"}` with `data` flat (row-major) or nested.
The protocol has no signatures; the model's default one is used unless the request's
`parameters` name another with `signature_name` (a modelship extension).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from modelship.serving.errors import BadRequestError
from modelship.serving.signatures import (
    DTYPES,
    ModelInfo,
    SignatureInfo,
    TensorInfo,
    dtype_for_v2,
    dtype_named,
)
from modelship.serving.tensors import array_from_json, check_shape, flat_json_from_array
from modelship.serving.tfserving_api import batch_rows

PLATFORM: Final = "tensorflow_savedmodel"
_DATATYPES: Final = ", ".join(d.v2 for d in DTYPES)


@dataclass(frozen=True)
class InferRequest:
    """A parsed infer body: the signature, its input arrays and the outputs asked for."""

    id: str | None
    signature: SignatureInfo
    inputs: dict[str, np.ndarray[Any, Any]]
    outputs: tuple[str, ...] | None  # None: all of them
    rows: int | None  # the shared first dimension when the inputs can join a batch


def parse_infer_request(body: Any, model: ModelInfo) -> InferRequest:
    """Validate an infer body; BadRequestError names the tensor and the problem."""
    if not isinstance(body, dict):
        raise BadRequestError('the request body must be a JSON object, such as {"inputs": [...]}')
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequestError("'id' must be a string")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadRequestError("'parameters' must be an object")
    wanted = parameters.get("signature_name")
    if wanted is not None and not isinstance(wanted, str):
        raise BadRequestError("parameters.signature_name must be a string")
    signature = model.signature(wanted)
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise BadRequestError(
            "'inputs' must be a non-empty list of tensors {name, shape, datatype, data}"
        )
    inputs: dict[str, np.ndarray[Any, Any]] = {}
    for index, tensor in enumerate(tensors):
        name, array = _parse_tensor(tensor, index, signature)
        if name in inputs:
            raise BadRequestError(f"input '{name}' is given more than once")
        inputs[name] = array
    for spec in signature.inputs:
        if spec.key not in inputs:
            raise BadRequestError(f"input '{spec.key}' is missing")
    return InferRequest(
        id=request_id,
        signature=signature,
        inputs=inputs,
        outputs=_requested_outputs(body.get("outputs"), signature),
        rows=batch_rows(signature, inputs),
    )


def _parse_tensor(
    tensor: Any, index: int, signature: SignatureInfo
) -> tuple[str, np.ndarray[Any, Any]]:
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict):
        raise BadRequestError(f"{where} must be an object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise BadRequestError(f"{where} needs a string 'name'")
    spec = signature.input_named(name)
    if spec is None:
        keys = ", ".join(t.key for t in signature.inputs)
        raise BadRequestError(
            f"{where} names unknown input '{name}'; signature '{signature.key}' takes: {keys}"
        )
    what = f"input '{name}'"
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequestError(f"{what} needs 'shape', a list of non-negative integers")
    datatype = tensor.get("datatype")
    given = dtype_for_v2(datatype) if isinstance(datatype, str) else None
    if given is None:
        raise BadRequestError(f"{what} has datatype {datatype!r}; use one of {_DATATYPES}")
    expected = dtype_named(spec.dtype)
    if expected is None or given != expected:
        want = expected.v2 if expected else spec.dtype
        raise BadRequestError(f"{what} has datatype {given.v2} but the model expects {want}")
    if "data" not in tensor:
        raise BadRequestError(f"{what} has no 'data'")
    array = array_from_json(tensor["data"], spec, what)
    count = math.prod(shape)
    if array.size != count:
        raise BadRequestError(f"{what} has {array.size} values but its shape {shape} needs {count}")
    array = array.reshape(shape)
    check_shape(array.shape, spec, what)
    return name, array


def _requested_outputs(outputs: Any, signature: SignatureInfo) -> tuple[str, ...] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise BadRequestError("'outputs' must be a list of objects with a 'name'")
    names = tuple(o["name"] for o in outputs)
    for name in names:
        if signature.output_named(name) is None:
            keys = ", ".join(t.key for t in signature.outputs)
            raise BadRequestError(
                f"unknown output '{name}'; signature '{signature.key}' returns: {keys}"
            )
    return names


def infer_response(
    request: InferRequest, model: ModelInfo, outputs: dict[str, np.ndarray[Any, Any]]
) -> dict[str, Any]:
    """The infer response: every output (or those asked for) as a flat tensor."""
    names = request.outputs if request.outputs is not None else tuple(sorted(outputs))
    response: dict[str, Any] = {
        "model_name": model.name,
        "model_version": str(model.version),
        "outputs": [_output_tensor(n, outputs[n], request.signature) for n in names],
    }
    if request.id is not None:
        response["id"] = request.id
    return response


def _output_tensor(name: str, array: np.ndarray[Any, Any], signature: SignatureInfo) -> Any:
    spec = signature.output_named(name)
    dtype = dtype_named(spec.dtype) if spec else None
    return {
        "name": name,
        "datatype": dtype.v2 if dtype else _datatype_of(array),
        "shape": list(array.shape),
        "data": flat_json_from_array(array),
    }


def _datatype_of(array: np.ndarray[Any, Any]) -> str:
    if array.dtype.kind in "OS":
        return "BYTES"
    for dtype in DTYPES:
        if dtype.numpy == array.dtype.name:
            return dtype.v2
    return array.dtype.name.upper()


def model_metadata(model: ModelInfo, signature: SignatureInfo) -> dict[str, Any]:
    """GET /v2/models/<m>: name, versions, platform and the default signature's tensors."""
    return {
        "name": model.name,
        "versions": [str(model.version)],
        "platform": PLATFORM,
        "inputs": [_tensor_metadata(t) for t in signature.inputs],
        "outputs": [_tensor_metadata(t) for t in signature.outputs],
    }


def _tensor_metadata(tensor: TensorInfo) -> dict[str, Any]:
    dtype = dtype_named(tensor.dtype)
    # The protocol has no "unknown rank"; [-1] is the nearest it can say.
    shape = [-1] if tensor.shape is None else [-1 if d is None else d for d in tensor.shape]
    return {"name": tensor.key, "datatype": dtype.v2 if dtype else tensor.dtype, "shape": shape}


def server_metadata(version: str) -> dict[str, Any]:
    """GET /v2: who answers, and which protocol extensions it has (none)."""
    return {"name": "modelship", "version": version, "extensions": []}
