"""The Open Inference Protocol (v2): infer bodies, responses and model metadata."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelship.serving.errors import BadRequestError
from modelship.serving.inference_v2 import infer_response, model_metadata, parse_infer_request
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
    assert infer_response(request, tiny_model(), outputs) == {
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
