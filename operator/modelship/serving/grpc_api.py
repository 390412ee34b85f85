"""TF Serving's gRPC API and the Open Inference Protocol's gRPC form as pure functions:
protobuf requests in, the same parsed requests the REST APIs produce out, and protobuf
responses back. No I/O here; `grpc_server` calls these around one model run.

Tensors: TF Serving's TensorProto carries its values either packed in `tensor_content` or in
the typed field of its dtype (answers use the typed fields, as TF Serving does, so clients
that read `float_val` keep working); the v2 protocol carries them in typed `contents` or as
`raw_input_contents` in the binary tensor layout (answered in kind).
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np

from modelship.serving import inference_v2, tfserving_api
from modelship.serving.errors import BadRequestError, NotFoundError
from modelship.serving.protos import message
from modelship.serving.signatures import (
    DTYPES,
    DType,
    ModelInfo,
    SignatureInfo,
    TensorInfo,
    dtype_named,
    numpy_dtype,
)
from modelship.serving.tensors import check_shape

Arrays = dict[str, np.ndarray[Any, Any]]

# tensorflow.DataType numbers of the dtypes the server carries.
_DATA_TYPE_NUMBERS: Final = {
    "float16": 19, "float32": 1, "float64": 2, "int8": 6, "int16": 5, "int32": 3,
    "int64": 9, "uint8": 4, "uint16": 17, "uint32": 22, "uint64": 23, "bool": 10, "string": 7,
}  # fmt: skip
_BY_NUMBER: Final = {_DATA_TYPE_NUMBERS[d.name]: d for d in DTYPES}
# The TensorProto field holding each dtype's values when not packed in tensor_content.
_TENSOR_FIELD: Final = {
    "float16": "half_val", "float32": "float_val", "float64": "double_val",
    "int8": "int_val", "int16": "int_val", "int32": "int_val", "uint8": "int_val",
    "uint16": "int_val", "int64": "int64_val", "uint32": "uint32_val",
    "uint64": "uint64_val", "bool": "bool_val", "string": "string_val",
}  # fmt: skip
# The InferTensorContents field of each v2 datatype.
_CONTENTS_FIELD: Final = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
    "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
    "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP16": "fp32_contents", "FP32": "fp32_contents", "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}  # fmt: skip
MODEL_STATES: Final = {"LOADING": 20, "AVAILABLE": 30, "UNLOADING": 40}
SIGNATURE_DEF: Final = "signature_def"


def data_type_name(number: int) -> str:
    """A tensorflow.DataType number as its enum name (DT_FLOAT), for messages."""
    enum = message("tensorflow.TensorProto").DESCRIPTOR.fields_by_name["dtype"].enum_type
    value = enum.values_by_number.get(number)
    return value.name if value is not None else f"DataType {number}"


# -- TF Serving: model spec ------------------------------------------------------------------


def check_model_spec(spec: Any, model_name: str, version: int | None) -> int | None:
    """NotFoundError unless the ModelSpec names the served model (and version, if any);
    returns the version asked for."""
    if spec.name != model_name:
        raise NotFoundError(
            f"model '{spec.name}' is not served here; this server serves '{model_name}'"
        )
    choice = spec.WhichOneof("version_choice")
    if choice == "version_label":
        raise NotFoundError(
            f"version label '{spec.version_label}' is not defined; address the version by "
            f"number (model_spec.version) or leave it out"
        )
    if choice == "version":
        wanted = int(spec.version.value)
        if version is not None and wanted != version:
            raise NotFoundError(
                f"model '{spec.name}' has no version {wanted}; version {version} is served"
            )
        return wanted
    return None


def answer_spec(target: Any, model: ModelInfo, signature: str = "") -> None:
    """Fill a response's model_spec: the model, the version that answered, the signature."""
    target.name = model.name
    target.version.value = model.version
    target.signature_name = signature


# -- TF Serving: tensors ---------------------------------------------------------------------


def array_from_tensor_proto(proto: Any, spec: TensorInfo, what: str) -> np.ndarray[Any, Any]:
    """A TensorProto as an array of `spec`'s dtype and a shape that fits it; BadRequestError
    names `what` (e.g. "input 'x'") and the problem."""
    given = _BY_NUMBER.get(proto.dtype)
    expected = dtype_named(spec.dtype)
    if expected is None:
        raise BadRequestError(f"{what} has dtype {spec.dtype}, which this server cannot take")
    if given is None or given != expected:
        raise BadRequestError(
            f"{what} has dtype {data_type_name(proto.dtype)} but the model expects {expected.enum}"
        )
    if proto.tensor_shape.unknown_rank:
        raise BadRequestError(f"{what} needs a known shape (tensor_shape.unknown_rank is set)")
    shape = [int(d.size) for d in proto.tensor_shape.dim]
    if any(d < 0 for d in shape):
        raise BadRequestError(f"{what} has a negative dimension in its shape {shape}")
    count = math.prod(shape)
    if proto.tensor_content:
        if expected.name == "string":
            raise BadRequestError(f"{what} is a DT_STRING tensor: send it in string_val")
        stored = numpy_dtype(expected).newbyteorder("<")
        if len(proto.tensor_content) != count * stored.itemsize:
            raise BadRequestError(
                f"{what} has {len(proto.tensor_content)} bytes of tensor_content but its "
                f"shape {shape} of {expected.enum} needs {count * stored.itemsize}"
            )
        flat = np.frombuffer(proto.tensor_content, dtype=stored)
    else:
        flat = _typed_values(proto, expected, what)
        # TensorFlow's rule: one value fills the whole shape.
        if flat.size == 1 and count > 1:
            flat = np.full(count, flat[0], dtype=flat.dtype)
        if flat.size != count:
            field = _TENSOR_FIELD[expected.name]
            raise BadRequestError(
                f"{what} has {flat.size} values in {field} but its shape {shape} needs {count}"
            )
    array = flat.reshape(shape)
    check_shape(array.shape, spec, what)
    return array


def _typed_values(proto: Any, dtype: DType, what: str) -> np.ndarray[Any, Any]:
    values = getattr(proto, _TENSOR_FIELD[dtype.name])
    if dtype.name == "string":
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
        return array
    if dtype.name == "float16":
        return _narrowed(values, np.dtype(np.uint16), dtype, what).view(np.float16)
    return _narrowed(values, numpy_dtype(dtype), dtype, what)


def _narrowed(values: Any, target: np.dtype[Any], dtype: DType, what: str) -> np.ndarray[Any, Any]:
    """Values of a wider protobuf field (int32 for int8) in the tensor's own dtype."""
    try:
        return np.array(values, dtype=target)
    except OverflowError:
        raise BadRequestError(f"{what} has a value outside the range of {dtype.name}") from None


def tensor_proto(target: Any, array: np.ndarray[Any, Any], dtype: DType | None) -> None:
    """Write `array` into a TensorProto, in the typed field of its dtype."""
    if dtype is None:
        raise BadRequestError(f"an output has dtype {array.dtype}, which this server cannot send")
    target.dtype = _DATA_TYPE_NUMBERS[dtype.name]
    for size in array.shape:
        target.tensor_shape.dim.add().size = size
    flat = array.reshape(-1)
    field = getattr(target, _TENSOR_FIELD[dtype.name])
    if dtype.name == "string":
        field.extend(v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in flat)
    elif dtype.name == "float16":
        field.extend(flat.astype(np.float16).view(np.uint16).tolist())
    else:
        field.extend(flat.tolist())


def parse_predict(request: Any, model: ModelInfo) -> tuple[SignatureInfo, Arrays, int | None]:
    """A PredictRequest's signature, input arrays and batch rows."""
    signature = model.signature(request.model_spec.signature_name or None)
    for name in request.inputs:
        if signature.input_named(name) is None:
            raise BadRequestError(
                f"unknown input '{name}'; signature '{signature.key}' takes inputs: "
                f"{', '.join(t.key for t in signature.inputs)}"
            )
    inputs = {}
    for spec in signature.inputs:
        if spec.key not in request.inputs:
            raise BadRequestError(f"input '{spec.key}' is missing")
        inputs[spec.key] = array_from_tensor_proto(
            request.inputs[spec.key], spec, f"input '{spec.key}'"
        )
    for name in request.output_filter:
        if signature.output_named(name) is None:
            raise BadRequestError(
                f"output_filter names unknown output '{name}'; signature '{signature.key}' "
                f"returns: {', '.join(t.key for t in signature.outputs)}"
            )
    return signature, inputs, tfserving_api.batch_rows(signature, inputs)


def predict_response(
    request: Any, model: ModelInfo, signature: SignatureInfo, outputs: Arrays
) -> Any:
    response = message("tensorflow.serving.PredictResponse")()
    answer_spec(response.model_spec, model, signature.key)
    names = list(request.output_filter) or sorted(outputs)
    for name in names:
        array = outputs[name]
        spec = signature.output_named(name)
        dtype = dtype_named(spec.dtype) if spec else None
        tensor_proto(response.outputs[name], array, dtype or _dtype_of_array(array))
    return response


def _dtype_of_array(array: np.ndarray[Any, Any]) -> DType | None:
    if array.dtype.kind in "OS":
        return dtype_named("string")
    return next((d for d in DTYPES if d.numpy == array.dtype.name), None)


def metadata_response(request: Any, model: ModelInfo) -> Any:
    """GetModelMetadata: the signature_def map packed in a google.protobuf.Any."""
    fields = list(request.metadata_field)
    if fields != [SIGNATURE_DEF]:
        raise BadRequestError(
            f"metadata_field must be ['{SIGNATURE_DEF}'] (the one metadata there is), not {fields}"
        )
    signatures = message("tensorflow.serving.SignatureDefMap")()
    for signature in model.signatures:
        definition = signatures.signature_def[signature.key]
        definition.method_name = signature.method_name
        for tensors, target in ((signature.inputs, definition.inputs),
                                (signature.outputs, definition.outputs)):  # fmt: skip
            for tensor in tensors:
                _tensor_info(target[tensor.key], tensor)
    response = message("tensorflow.serving.GetModelMetadataResponse")()
    answer_spec(response.model_spec, model)
    packed = response.metadata[SIGNATURE_DEF]
    packed.type_url = tfserving_api.SIGNATURE_DEF_MAP_TYPE
    packed.value = signatures.SerializeToString()
    return response


def _tensor_info(target: Any, tensor: TensorInfo) -> None:
    target.name = tensor.tensor_name
    target.dtype = _DATA_TYPE_NUMBERS.get(tensor.dtype, 0)
    if tensor.shape is None:
        target.tensor_shape.unknown_rank = True
    else:
        for size in tensor.shape:
            target.tensor_shape.dim.add().size = -1 if size is None else size


def status_response(version: int | None, state: str) -> Any:
    response = message("tensorflow.serving.GetModelStatusResponse")()
    if version is not None:
        status = response.model_version_status.add()
        status.version = version
        status.state = MODEL_STATES.get(state, 0)
    return response


def serialized_examples(request: Any, verb: str) -> list[bytes]:
    """The tf.train.Examples of a Classify/Regress request, serialized, each with the
    context's features added (a feature the example has itself wins)."""
    kind = request.input.WhichOneof("kind")
    if kind is None:
        raise BadRequestError(f"{verb} needs input.example_list or input.example_list_with_context")
    listed = getattr(request.input, kind)
    if not listed.examples:
        raise BadRequestError(f"input.{kind}.examples is empty; send at least one example")
    if kind == "example_list":
        return [example.SerializeToString() for example in listed.examples]
    example_type = message("tensorflow.Example")
    serialized = []
    for example in listed.examples:
        merged = example_type()
        merged.CopyFrom(listed.context)
        merged.MergeFrom(example)
        serialized.append(merged.SerializeToString())
    return serialized


def classify_response(outputs: Arrays, count: int, model: ModelInfo, signature: str) -> Any:
    response = message("tensorflow.serving.ClassificationResponse")()
    answer_spec(response.model_spec, model, signature)
    for pairs in tfserving_api.classify_response(outputs, count)["result"]:
        classes = response.result.classifications.add()
        for label, score in pairs:
            one = classes.classes.add()
            one.label, one.score = label, score
    return response


def regress_response(outputs: Arrays, count: int, model: ModelInfo, signature: str) -> Any:
    response = message("tensorflow.serving.RegressionResponse")()
    answer_spec(response.model_spec, model, signature)
    for value in tfserving_api.regress_response(outputs, count)["result"]:
        response.result.regressions.add().value = value
    return response


# -- Open Inference Protocol -----------------------------------------------------------------


def parameter_value(parameter: Any) -> Any:
    choice = parameter.WhichOneof("parameter_choice")
    return None if choice is None else getattr(parameter, choice)


def parse_model_infer(request: Any, model: ModelInfo) -> tuple[inference_v2.InferRequest, bool]:
    """A ModelInferRequest as the REST API's InferRequest, and whether its inputs came as
    raw_input_contents (then the outputs go back as raw_output_contents too)."""
    wanted = None
    if "signature_name" in request.parameters:
        wanted = parameter_value(request.parameters["signature_name"])
        if not isinstance(wanted, str):
            raise BadRequestError("parameters.signature_name must be a string_param")
    signature = model.signature(wanted)
    if not request.inputs:
        raise BadRequestError("'inputs' is empty; send one tensor per input of the signature")
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise BadRequestError(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; "
            "send one per input, in order"
        )
    inputs: Arrays = {}
    for index, tensor in enumerate(request.inputs):
        where = f"inputs[{index}]"
        spec, dtype = inference_v2.input_spec(tensor.name, tensor.datatype, signature, where)
        what = f"input '{tensor.name}'"
        shape = [int(d) for d in tensor.shape]
        if any(d < 0 for d in shape):
            raise BadRequestError(f"{what} has a negative dimension in its shape {shape}")
        if raw:
            if tensor.HasField("contents"):
                raise BadRequestError(f"{what} has contents and raw_input_contents; send one")
            flat = inference_v2.array_from_binary(raw[index], dtype, shape, what)
        else:
            flat = _contents_values(tensor.contents, dtype, what)
        if tensor.name in inputs:
            raise BadRequestError(f"input '{tensor.name}' is given more than once")
        inputs[tensor.name] = inference_v2.shaped_input(flat, shape, spec, what)
    for spec in signature.inputs:
        if spec.key not in inputs:
            raise BadRequestError(f"input '{spec.key}' is missing")
    names = [
        {
            "name": output.name,
            "parameters": {k: parameter_value(v) for k, v in output.parameters.items()},
        }
        for output in request.outputs
    ]
    parsed = inference_v2.InferRequest(
        id=request.id or None,
        signature=signature,
        inputs=inputs,
        outputs=inference_v2.requested_outputs(names or None, signature),
        rows=tfserving_api.batch_rows(signature, inputs),
    )
    return parsed, bool(raw)


def _contents_values(contents: Any, dtype: DType, what: str) -> np.ndarray[Any, Any]:
    field = _CONTENTS_FIELD[dtype.v2]
    values = getattr(contents, field)
    if dtype.name == "string":
        array = np.empty(len(values), dtype=object)
        array[:] = list(values)
        return array
    others = [f for f in set(_CONTENTS_FIELD.values()) if f != field and getattr(contents, f)]
    if others:
        raise BadRequestError(
            f"{what} is {dtype.v2}: its values belong in contents.{field}, not {others[0]}"
        )
    target = numpy_dtype(dtype)
    if dtype.v2 == "FP16":  # FP16 travels in fp32_contents
        return np.array(values, dtype=np.float32).astype(target)
    return _narrowed(values, target, dtype, what)


def model_infer_response(
    request: inference_v2.InferRequest, model: ModelInfo, outputs: Arrays, raw: bool
) -> Any:
    response = message("inference.ModelInferResponse")()
    response.model_name = model.name
    response.model_version = str(model.version)
    if request.id is not None:
        response.id = request.id
    names = request.outputs if request.outputs is not None else tuple(sorted(outputs))
    for name in names:
        array = outputs[name]
        dtype = inference_v2.output_dtype(name, array, request.signature)
        tensor = response.outputs.add()
        tensor.name = name
        tensor.datatype = dtype.v2 if dtype else inference_v2.datatype_of(array)
        tensor.shape.extend(array.shape)
        if raw:
            response.raw_output_contents.append(inference_v2.binary_from_array(array, dtype))
            continue
        field = getattr(tensor.contents, _CONTENTS_FIELD.get(tensor.datatype, "bytes_contents"))
        flat = array.reshape(-1)
        if tensor.datatype == "BYTES":
            field.extend(v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in flat)
        else:
            field.extend(flat.tolist())
    return response


def model_metadata_response(model: ModelInfo) -> Any:
    document = inference_v2.model_metadata(model, model.signature(None))
    response = message("inference.ModelMetadataResponse")()
    response.name = document["name"]
    response.versions.extend(document["versions"])
    response.platform = document["platform"]
    for tensors, target in ((document["inputs"], response.inputs),
                            (document["outputs"], response.outputs)):  # fmt: skip
        for tensor in tensors:
            entry = target.add()
            entry.name, entry.datatype = tensor["name"], tensor["datatype"]
            entry.shape.extend(tensor["shape"])
    return response


def server_metadata_response(version: str) -> Any:
    document = inference_v2.server_metadata(version)
    response = message("inference.ServerMetadataResponse")()
    response.name, response.version = document["name"], document["version"]
    response.extensions.extend(document["extensions"])
    return response
