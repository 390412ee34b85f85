"""The gRPC messages: our descriptor set is what our .proto files compile to, and tensors
convert to and from TensorProto / InferTensorContents with the problem named when they
cannot."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelship.serving import grpc_api, protos
from modelship.serving.errors import BadRequestError
from modelship.serving.protos.regenerate import OUTPUT, compile_descriptors
from modelship.serving.signatures import dtype_named
from tests.unit.serving.builders import tensor, tiny_model


def test_the_committed_descriptor_set_is_compiled_from_our_protos() -> None:
    assert OUTPUT.read_bytes() == compile_descriptors(), (
        "run: python operator/modelship/serving/protos/regenerate.py"
    )


def tensor_proto(**fields: Any) -> Any:
    proto = protos.message("tensorflow.TensorProto")()
    shape = fields.pop("shape")
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    for name, value in fields.items():
        if isinstance(value, list):
            getattr(proto, name).extend(value)
        else:
            setattr(proto, name, value)
    return proto


X = tensor("x", "float32", None, 3)


@pytest.mark.parametrize(
    "proto",
    [
        tensor_proto(dtype=1, shape=[2, 3], float_val=[1, 2, 3, 4, 5, 6]),
        tensor_proto(dtype=1, shape=[2, 3], tensor_content=np.arange(1, 7, dtype="<f4").tobytes()),
    ],
    ids=["typed", "tensor_content"],
)
def test_tensor_protos_become_arrays(proto: Any) -> None:
    array = grpc_api.array_from_tensor_proto(proto, X, "input 'x'")
    assert array.dtype == np.float32 and array.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_values_outside_the_dtype_are_refused() -> None:
    proto = tensor_proto(dtype=6, shape=[1], int_val=[300])  # DT_INT8
    with pytest.raises(BadRequestError, match="input 'b' has a value outside the range of int8"):
        grpc_api.array_from_tensor_proto(proto, tensor("b", "int8", None), "input 'b'")


def test_one_value_fills_the_shape_as_in_tensorflow() -> None:
    proto = tensor_proto(dtype=1, shape=[2, 3], float_val=[7])
    assert grpc_api.array_from_tensor_proto(proto, X, "input 'x'").tolist() == [[7] * 3] * 2


@pytest.mark.parametrize(
    ("proto", "words"),
    [
        (tensor_proto(dtype=2, shape=[1, 3], double_val=[1, 2, 3]), "dtype DT_DOUBLE but"),
        (tensor_proto(dtype=1, shape=[1, 3], float_val=[1, 2]), "2 values in float_val"),
        (tensor_proto(dtype=1, shape=[1, 4], float_val=[1] * 4), "expects shape [-1, 3]"),
        (tensor_proto(dtype=1, shape=[1, 3], tensor_content=b"\0" * 8), "8 bytes of tensor_"),
        (tensor_proto(dtype=1, shape=[-1, 3]), "negative dimension"),
    ],
)
def test_bad_tensor_protos_name_the_input(proto: Any, words: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        grpc_api.array_from_tensor_proto(proto, X, "input 'x'")
    assert caught.value.message.startswith("input 'x'") and words in caught.value.message


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        ("float16", [0.5, -2.0]),
        ("int8", [-3, 4]),
        ("uint64", [2**63, 1]),
        ("bool", [True, False]),
        ("string", [b"a", b"\xff"]),
    ],
)
def test_outputs_round_trip_through_typed_fields(dtype: str, values: list[Any]) -> None:
    numpy = object if dtype == "string" else dtype
    array = np.array(values, dtype=numpy)
    proto = protos.message("tensorflow.TensorProto")()
    grpc_api.tensor_proto(proto, array, dtype_named(dtype))
    back = grpc_api.array_from_tensor_proto(proto, tensor("y", dtype, None), "output 'y'")
    assert back.tolist() == array.tolist()


def infer_request(**fields: Any) -> Any:
    request = protos.message("inference.ModelInferRequest")()
    for name, datatype, shape, contents in fields.pop("inputs"):
        tensor = request.inputs.add(name=name, datatype=datatype, shape=shape)
        if contents is not None:
            getattr(tensor.contents, contents[0]).extend(contents[1])
    request.raw_input_contents.extend(fields.pop("raw", []))
    return request


def test_model_infer_takes_typed_and_raw_contents() -> None:
    typed = infer_request(
        inputs=[
            ("x", "FP32", [1, 3], ("fp32_contents", [1, 2, 3])),
            ("k", "INT64", [1], ("int64_contents", [5])),
        ]
    )
    parsed, raw = grpc_api.parse_model_infer(typed, tiny_model())
    assert not raw and parsed.inputs["x"].tolist() == [[1, 2, 3]] and parsed.rows == 1
    binary = infer_request(
        inputs=[("x", "FP32", [1, 3], None), ("k", "INT64", [1], None)],
        raw=[np.array([1, 2, 3], "<f4").tobytes(), np.array([5], "<i8").tobytes()],
    )
    parsed_raw, raw = grpc_api.parse_model_infer(binary, tiny_model())
    assert raw and parsed_raw.inputs["k"].tolist() == [5]
    outputs = {"y": np.array([[1.5, 2.5]], np.float32), "ids": np.array([10])}
    answer = grpc_api.model_infer_response(parsed_raw, tiny_model(), outputs, raw=True)
    assert [o.name for o in answer.outputs] == ["ids", "y"]
    assert answer.raw_output_contents[1] == outputs["y"].tobytes()
    answer = grpc_api.model_infer_response(parsed, tiny_model(), outputs, raw=False)
    assert list(answer.outputs[1].contents.fp32_contents) == [1.5, 2.5]


@pytest.mark.parametrize(
    ("request_fields", "words"),
    [
        ({"inputs": [("x", "FP32", [1, 3], ("int_contents", [1, 2, 3]))]}, "not int_contents"),
        (
            {"inputs": [("x", "FP32", [1, 3], None), ("k", "INT64", [1], None)], "raw": [b""]},
            "raw_input_contents has 1 entries for 2 inputs",
        ),
        ({"inputs": [("x", "INT32", [1, 3], None)]}, "datatype INT32 but the model expects"),
        ({"inputs": [("x", "FP32", [1, 3], ("fp32_contents", [1, 2, 3]))]}, "'k' is missing"),
    ],
)
def test_bad_infer_requests_name_the_problem(request_fields: Any, words: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        grpc_api.parse_model_infer(infer_request(**request_fields), tiny_model())
    assert words in caught.value.message
