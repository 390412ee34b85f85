"""The Open Inference Protocol (v2): infer bodies, responses and model metadata."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelship.serving.errors import BadRequestError
from modelship.serving.inference_v2 import (
    array_from_binary,
    binary_from_array,
    infer_response,
    model_metadata,
    parse_infer_request,
    split_binary_body,
)
from modelship.serving.signatures import dtype_for_v2
from tests.unit.serving.builders import tiny_model

X = {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}
K = {"name": "k", "shape": [2], "datatype": "INT64", "data": [7, 8]}


def test_flat_and_nested_data_give_the_same_tensor() -> None:
    flat = parse_infer_request({"inputs": [X, K]}, tiny_model())
    nested = parse_infer_request(
        {"inputs": [{**X, "data": [[1, 2, 3], [4, 5, 6]]}, K]}, tiny_model()
    )
    assert flat.inputs["x"].tolist() == nested.inputs["x"].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert flat.rows == 2 and flat.signature.key == "serving_default"


def test_the_signature_can_be_named_in_parameters() -> None:
    request = parse_infer_request(
        {"parameters": {"signature_name": "scores"}, "inputs": [X]}, tiny_model()
    )
    assert request.signature.key == "scores"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"inputs": []}, "'inputs' must be a non-empty list"),
        ({"inputs": [X]}, "input 'k' is missing"),
        ({"inputs": [X, K, K]}, "input 'k' is given more than once"),
        ({"inputs": [X, {**K, "name": "z"}]}, "unknown input 'z'"),
        ({"inputs": [{**X, "datatype": "INT64"}, K]}, "datatype INT64 but the model expects FP32"),
        ({"inputs": [{**X, "datatype": "FLOAT"}, K]}, "datatype 'FLOAT'; use one of FP16, FP32"),
        ({"inputs": [{**X, "shape": [2, 2]}, K]}, "has 6 values but its shape [2, 2] needs 4"),
        ({"inputs": [{**X, "shape": [3, 2]}, K]}, "expects shape [-1, 3] but got [3, 2]"),
        ({"inputs": [{**X, "shape": [-1, 3]}, K]}, "list of non-negative integers"),
        ({"inputs": [X, K], "outputs": [{"name": "nope"}]}, "unknown output 'nope'"),
    ],
)
def test_bad_infer_bodies_are_refused_with_a_reason(body: Any, words: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_infer_request(body, tiny_model())
    assert words in caught.value.message


def test_responses_carry_flat_outputs_and_the_request_id() -> None:
    request = parse_infer_request(
        {"id": "r1", "inputs": [X, K], "outputs": [{"name": "y"}]}, tiny_model()
    )
    outputs = {"y": np.array([[1, 2], [3, 4]], np.float32), "ids": np.array([14, 16])}
    assert infer_response(request, tiny_model(), outputs).document == {
        "model_name": "tiny",
        "model_version": "3",
        "id": "r1",
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [2, 2], "data": [1, 2, 3, 4]}],
    }


def test_metadata_lists_the_default_signature_tensors() -> None:
    model = tiny_model()
    assert model_metadata(model, model.signature(None)) == {
        "name": "tiny",
        "versions": ["3"],
        "platform": "tensorflow_savedmodel",
        "inputs": [
            {"name": "k", "datatype": "INT64", "shape": [-1]},
            {"name": "x", "datatype": "FP32", "shape": [-1, 3]},
        ],
        "outputs": [
            {"name": "ids", "datatype": "INT64", "shape": [-1]},
            {"name": "y", "datatype": "FP32", "shape": [-1, 2]},
        ],
    }


# -- the binary tensor data extension --------------------------------------------------------


def binary_tensor(tensor: dict[str, Any], size: int) -> dict[str, Any]:
    without_data = {k: v for k, v in tensor.items() if k != "data"}
    return {**without_data, "parameters": {"binary_data_size": size}}


def test_binary_inputs_are_read_after_the_json_header_in_input_order() -> None:
    x = np.array([[1, 2, 3], [4, 5, 6]], "<f4").tobytes()
    k = np.array([7, 8], "<i8").tobytes()
    body = {"inputs": [binary_tensor(X, len(x)), binary_tensor(K, len(k))]}
    request = parse_infer_request(body, tiny_model(), x + k)
    json_request = parse_infer_request({"inputs": [X, K]}, tiny_model())
    assert request.inputs["x"].tolist() == json_request.inputs["x"].tolist()
    assert request.inputs["k"].tolist() == [7, 8] and request.inputs["k"].dtype == np.int64
    assert request.rows == 2


def test_binary_and_json_inputs_mix() -> None:
    k = np.array([7, 8], "<i8").tobytes()
    request = parse_infer_request({"inputs": [X, binary_tensor(K, len(k))]}, tiny_model(), k)
    assert request.inputs["k"].tolist() == [7, 8]


def test_bytes_elements_carry_a_four_byte_length() -> None:
    raw = b"\x03\x00\x00\x00abc\x00\x00\x00\x00\x02\x00\x00\x00\xff\x00"
    array = array_from_binary(raw, dtype_for_v2("BYTES"), [3], "input 'name'")  # type: ignore[arg-type]
    assert array.tolist() == [b"abc", b"", b"\xff\x00"]
    assert binary_from_array(array, dtype_for_v2("BYTES")) == raw


@pytest.mark.parametrize(
    ("tensor", "binary", "words"),
    [
        (binary_tensor(X, 24), b"\x00" * 20, "binary_data_size 24 but only 20 bytes"),
        (binary_tensor(X, 20), b"\x00" * 20, "has 20 bytes of FP32 data but its shape [2, 3]"),
        (binary_tensor(X, 22), b"\x00" * 22, "not a multiple of 4 bytes"),
        ({**X, "parameters": {"binary_data_size": 24}}, b"\x00" * 24, "both 'data' and"),
        (binary_tensor(X, 24), b"\x00" * 30, "30 bytes of binary tensor data but the inputs'"),
    ],
)
def test_bad_binary_data_is_refused_naming_the_input(
    tensor: dict[str, Any], binary: bytes, words: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_infer_request({"inputs": [tensor, K]}, tiny_model(), binary)
    assert words in caught.value.message


def test_cut_bytes_data_is_refused() -> None:
    with pytest.raises(BadRequestError, match="cut short"):
        array_from_binary(b"\x03\x00", dtype_for_v2("BYTES"), [1], "input 'name'")  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="element of 9 bytes but only 3"):
        array_from_binary(b"\x09\x00\x00\x00abc", dtype_for_v2("BYTES"), [1], "input 'name'")  # type: ignore[arg-type]


def test_outputs_asked_as_binary_come_after_the_json_document() -> None:
    outputs = {"y": np.array([[1, 2], [3, 4]], np.float32), "ids": np.array([14, 16])}
    everything = parse_infer_request(
        {"inputs": [X, K], "parameters": {"binary_data_output": True}}, tiny_model()
    )
    answer = infer_response(everything, tiny_model(), outputs)
    ids, y = answer.document["outputs"]
    assert ids == {"name": "ids", "datatype": "INT64", "shape": [2],
                   "parameters": {"binary_data_size": 16}}  # fmt: skip
    assert y["parameters"] == {"binary_data_size": 16} and "data" not in y
    assert answer.binary == np.array([14, 16], "<i8").tobytes() + outputs["y"].tobytes()
    # An output's own binary_data wins over the request-wide flag.
    one = parse_infer_request(
        {
            "inputs": [X, K],
            "parameters": {"binary_data_output": True},
            "outputs": [{"name": "y", "parameters": {"binary_data": False}}],
        },
        tiny_model(),
    )
    answer = infer_response(one, tiny_model(), outputs)
    assert answer.binary == b"" and answer.document["outputs"][0]["data"] == [1, 2, 3, 4]


def test_the_header_length_splits_the_body() -> None:
    assert split_binary_body(b'{"a":1}xyz', "7") == (b'{"a":1}', b"xyz")
    assert split_binary_body(b'{"a":1}', None) == (b'{"a":1}', b"")
    with pytest.raises(BadRequestError, match="the body has only 7 bytes"):
        split_binary_body(b'{"a":1}', "70")
    with pytest.raises(BadRequestError, match="must be a number of bytes"):
        split_binary_body(b'{"a":1}', "seven")
