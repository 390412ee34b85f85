"""The Open Inference Protocol (KServe's "v2" REST protocol) as pure functions: infer
requests in, infer responses and model metadata out.

A tensor is `{"name", "shape", "datatype", "data"}` with `data` flat (row-major) or nested,
or, with the binary tensor data extension (which tritonclient and KServe's client use by
default), `"parameters": {"binary_data_size": n}` and its bytes after the JSON header: the
header's length is in the `Inference-Header-Content-Length` HTTP header, tensors follow in
the order of the inputs that have a size, each little-endian and row-major, BYTES elements as
a 4-byte little-endian length and then the bytes. The same layout is gRPC's `raw_*_contents`.
Outputs come back that way when the request asks (`binary_data_output`, or an output's
`binary_data`).

The protocol has no signatures; the model's default one is used unless the request's
`parameters` name another with `signature_name` (a modelship extension).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from modelship.serving.errors import BadRequestError
from modelship.serving.signatures import (
    DTYPES,
    DType,
    ModelInfo,
    SignatureInfo,
    TensorInfo,
    dtype_for_v2,
    dtype_named,
)
from modelship.serving.tensors import array_from_json, check_shape, flat_json_from_array
from modelship.serving.tfserving_api import batch_rows

BINARY_EXTENSION: Final = "binary_tensor_data"
HEADER_LENGTH: Final = "Inference-Header-Content-Length"
_DATATYPES: Final = ", ".join(d.v2 for d in DTYPES)


@dataclass(frozen=True)
class InferRequest:
    """A parsed infer body: the signature, its input arrays and the outputs asked for."""

    id: str | None
    signature: SignatureInfo
    inputs: dict[str, np.ndarray[Any, Any]]
    outputs: tuple[str, ...] | None  # None: all of them
    rows: int | None  # the shared first dimension when the inputs can join a batch
    binary_outputs: frozenset[str] = field(default_factory=frozenset)  # sent as raw bytes


@dataclass(frozen=True)
class InferResponse:
    """An infer answer: the JSON document, and the binary data that follows it (if any)."""

    document: dict[str, Any]
    binary: bytes = b""


def split_binary_body(raw: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensor data of a body, by the
    Inference-Header-Content-Length header (absent: the whole body is JSON)."""
    if header_length is None:
        return raw, b""
    if not header_length.strip().isdigit():
        raise BadRequestError(f"{HEADER_LENGTH} must be a number of bytes, not {header_length!r}")
    length = int(header_length)
    if length > len(raw):
        raise BadRequestError(f"{HEADER_LENGTH} is {length} but the body has only {len(raw)} bytes")
    return raw[:length], raw[length:]


def parse_infer_request(body: Any, model: ModelInfo, binary: bytes = b"") -> InferRequest:
    """Validate an infer body (and the binary tensor data after its JSON header);
    BadRequestError names the tensor and the problem."""
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
    offset = 0
    for index, tensor in enumerate(tensors):
        name, array, used = _parse_tensor(tensor, index, signature, binary, offset)
        offset += used
        if name in inputs:
            raise BadRequestError(f"input '{name}' is given more than once")
        inputs[name] = array
    if offset != len(binary):
        raise BadRequestError(
            f"the body has {len(binary)} bytes of binary tensor data but the inputs' "
            f"binary_data_size add up to {offset}"
        )
    for spec in signature.inputs:
        if spec.key not in inputs:
            raise BadRequestError(f"input '{spec.key}' is missing")
    outputs = requested_outputs(body.get("outputs"), signature)
    return InferRequest(
        id=request_id,
        signature=signature,
        inputs=inputs,
        outputs=outputs,
        rows=batch_rows(signature, inputs),
        binary_outputs=_binary_outputs(parameters, body.get("outputs"), signature),
    )


def _binary_outputs(
    parameters: dict[str, Any], outputs: Any, signature: SignatureInfo
) -> frozenset[str]:
    """The outputs to send as binary data: all with `binary_data_output`, and each output
    whose own parameters say `binary_data` (which wins over the request-wide flag)."""
    everything = parameters.get("binary_data_output", False)
    if not isinstance(everything, bool):
        raise BadRequestError("parameters.binary_data_output must be true or false")
    chosen = {t.key for t in signature.outputs} if everything else set()
    for output in outputs or ():
        wanted = (output.get("parameters") or {}).get("binary_data")
        if wanted is None:
            continue
        if not isinstance(wanted, bool):
            name = output["name"]
            raise BadRequestError(f"output '{name}' parameters.binary_data must be true or false")
        (chosen.add if wanted else chosen.discard)(output["name"])
    return frozenset(chosen)


def _parse_tensor(
    tensor: Any, index: int, signature: SignatureInfo, binary: bytes, offset: int
) -> tuple[str, np.ndarray[Any, Any], int]:
    """One input tensor; the third value is how many bytes of `binary` (from `offset`)
    it took."""
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict):
        raise BadRequestError(f"{where} must be an object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise BadRequestError(f"{where} needs a string 'name'")
    spec, given = input_spec(name, tensor.get("datatype"), signature, where)
    what = f"input '{name}'"
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequestError(f"{what} needs 'shape', a list of non-negative integers")
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadRequestError(f"{what} 'parameters' must be an object")
    size = parameters.get("binary_data_size")
    used = 0
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequestError(f"{what} parameters.binary_data_size must be a byte count")
        if "data" in tensor:
            raise BadRequestError(f"{what} has both 'data' and binary_data_size; send one")
        if offset + size > len(binary):
            raise BadRequestError(
                f"{what} has binary_data_size {size} but only {len(binary) - offset} bytes of "
                "binary tensor data are left in the body"
            )
        array = array_from_binary(binary[offset : offset + size], given, shape, what)
        used = size
    elif "data" not in tensor:
        raise BadRequestError(f"{what} has no 'data' (nor parameters.binary_data_size)")
    else:
        array = array_from_json(tensor["data"], spec, what)
    return name, shaped_input(array, shape, spec, what), used


def input_spec(
    name: str, datatype: Any, signature: SignatureInfo, where: str
) -> tuple[TensorInfo, DType]:
    """The signature's input `name` and the dtype the request gives it, which must be the
    one the model expects; BadRequestError says which input and what is wrong."""
    spec = signature.input_named(name)
    if spec is None:
        keys = ", ".join(t.key for t in signature.inputs)
        raise BadRequestError(
            f"{where} names unknown input '{name}'; signature '{signature.key}' takes: {keys}"
        )
    what = f"input '{name}'"
    given = dtype_for_v2(datatype) if isinstance(datatype, str) else None
    if given is None:
        raise BadRequestError(f"{what} has datatype {datatype!r}; use one of {_DATATYPES}")
    expected = dtype_named(spec.dtype)
    if expected is None or given != expected:
        want = expected.v2 if expected else spec.dtype
        raise BadRequestError(f"{what} has datatype {given.v2} but the model expects {want}")
    return spec, given


def shaped_input(
    array: np.ndarray[Any, Any], shape: list[int], spec: TensorInfo, what: str
) -> np.ndarray[Any, Any]:
    """The flat values in the request's shape, checked against the signature's."""
    count = math.prod(shape)
    if array.size != count:
        raise BadRequestError(f"{what} has {array.size} values but its shape {shape} needs {count}")
    array = array.reshape(shape)
    check_shape(array.shape, spec, what)
    return array


def array_from_binary(
    raw: bytes, dtype: DType, shape: list[int] | tuple[int, ...], what: str
) -> np.ndarray[Any, Any]:
    """Binary tensor data as a flat array: little-endian values, or for BYTES each element
    as a 4-byte little-endian length and its bytes. The caller checks the count."""
    if dtype.name == "string":
        elements: list[bytes] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise BadRequestError(f"{what} has BYTES data cut short inside an element's length")
            (length,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + length > len(raw):
                raise BadRequestError(
                    f"{what} has a BYTES element of {length} bytes but only "
                    f"{len(raw) - offset} are left"
                )
            elements.append(raw[offset : offset + length])
            offset += length
        array = np.empty(len(elements), dtype=object)
        array[:] = elements
        return array
    numpy = np.dtype(dtype.numpy).newbyteorder("<")
    if len(raw) % numpy.itemsize:
        raise BadRequestError(
            f"{what} has {len(raw)} bytes of {dtype.v2} data, not a multiple of "
            f"{numpy.itemsize} bytes per value"
        )
    count = math.prod(shape)
    if len(raw) != count * numpy.itemsize:
        raise BadRequestError(
            f"{what} has {len(raw)} bytes of {dtype.v2} data but its shape {list(shape)} "
            f"needs {count * numpy.itemsize}"
        )
    return np.frombuffer(raw, dtype=numpy).astype(numpy.newbyteorder("="), copy=False)


def binary_from_array(array: np.ndarray[Any, Any], dtype: DType | None) -> bytes:
    """The array as binary tensor data (the inverse of array_from_binary)."""
    if array.dtype.kind in "OSU" or (dtype is not None and dtype.name == "string"):
        parts = []
        for value in array.reshape(-1).tolist():
            data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            parts.append(struct.pack("<I", len(data)))
            parts.append(data)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def requested_outputs(outputs: Any, signature: SignatureInfo) -> tuple[str, ...] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise BadRequestError("'outputs' must be a list of objects with a 'name'")
    names = tuple(o["name"] for o in outputs)
    for output in outputs:
        name = output["name"]
        if signature.output_named(name) is None:
            keys = ", ".join(t.key for t in signature.outputs)
            raise BadRequestError(
                f"unknown output '{name}'; signature '{signature.key}' returns: {keys}"
            )
        if (output.get("parameters") or {}).get("classification"):
            # tritonclient's class_count: answering the plain tensor would be misread.
            raise BadRequestError(
                f"output '{name}' asks for the classification extension (class_count), "
                "which this server does not offer; ask for the tensor and take the top classes"
            )
    return names


def infer_response(
    request: InferRequest, model: ModelInfo, outputs: dict[str, np.ndarray[Any, Any]]
) -> InferResponse:
    """The infer response: every output (or those asked for) as a flat tensor, or as
    binary data after the JSON document where the request asked for that."""
    names = request.outputs if request.outputs is not None else tuple(sorted(outputs))
    tensors = []
    chunks: list[bytes] = []
    for name in names:
        array = outputs[name]
        dtype = output_dtype(name, array, request.signature)
        tensor: dict[str, Any] = {
            "name": name,
            "datatype": dtype.v2 if dtype else datatype_of(array),
            "shape": list(array.shape),
        }
        if name in request.binary_outputs:
            chunk = binary_from_array(array, dtype)
            tensor["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            tensor["data"] = flat_json_from_array(array)
        tensors.append(tensor)
    document: dict[str, Any] = {
        "model_name": model.name,
        "model_version": str(model.version),
        "outputs": tensors,
    }
    if request.id is not None:
        document["id"] = request.id
    return InferResponse(document, b"".join(chunks))


def output_dtype(name: str, array: np.ndarray[Any, Any], signature: SignatureInfo) -> DType | None:
    """The output's dtype as the signature declares it (else as the array has it)."""
    spec = signature.output_named(name)
    dtype = dtype_named(spec.dtype) if spec else None
    if dtype is None:
        dtype = next((d for d in DTYPES if d.numpy == array.dtype.name), None)
    return dtype


def datatype_of(array: np.ndarray[Any, Any]) -> str:
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
        "platform": model.platform,
        "inputs": [_tensor_metadata(t) for t in signature.inputs],
        "outputs": [_tensor_metadata(t) for t in signature.outputs],
    }


def _tensor_metadata(tensor: TensorInfo) -> dict[str, Any]:
    dtype = dtype_named(tensor.dtype)
    # The protocol has no "unknown rank"; [-1] is the nearest it can say.
    shape = [-1] if tensor.shape is None else [-1 if d is None else d for d in tensor.shape]
    return {"name": tensor.key, "datatype": dtype.v2 if dtype else tensor.dtype, "shape": shape}


def server_metadata(version: str) -> dict[str, Any]:
    """GET /v2: who answers, and which protocol extensions it has."""
    return {"name": "modelship", "version": version, "extensions": [BINARY_EXTENSION]}
