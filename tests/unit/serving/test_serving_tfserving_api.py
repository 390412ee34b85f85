"""TF Serving's REST API: routes, predict/classify/regress bodies and responses."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelship.serving.errors import (
    BadRequestError,
    MethodNotAllowedError,
    ModelError,
    NotFoundError,
)
from modelship.serving.tfserving_api import (
    V1Route,
    classify_response,
    model_metadata,
    parse_examples_request,
    parse_predict_request,
    parse_v1_path,
    predict_response,
    regress_response,
    version_status,
)
from tests.unit.serving.builders import tiny_model

SCORE_ROWS = {"signature_name": "scores", "instances": [[1, 2, 3]]}
SCORE_COLUMNS = {"signature_name": "scores", "inputs": [[1, 2, 3]]}


@pytest.mark.parametrize(
    ("tail", "method", "route"),
    [
        ("tiny", "GET", V1Route("tiny", None, "status")),
        ("tiny/versions/3", "GET", V1Route("tiny", 3, "status")),
        ("tiny/metadata", "GET", V1Route("tiny", None, "metadata")),
        ("tiny/versions/3/metadata", "GET", V1Route("tiny", 3, "metadata")),
        ("tiny:predict", "POST", V1Route("tiny", None, "predict")),
        ("tiny/versions/12:classify", "POST", V1Route("tiny", 12, "classify")),
        ("tiny:regress", "POST", V1Route("tiny", None, "regress")),
    ],
)
def test_v1_paths_route_to_model_version_and_verb(tail: str, method: str, route: V1Route) -> None:
    assert parse_v1_path(tail, method) == route


@pytest.mark.parametrize(
    ("tail", "method", "error", "words"),
    [
        ("tiny:explain", "POST", NotFoundError, "unknown method ':explain'"),
        ("tiny/labels/stable:predict", "POST", NotFoundError, "labels are not supported"),
        ("tiny/versions/x:predict", "POST", BadRequestError, "version 'x' is not a number"),
        ("tiny:predict", "GET", MethodNotAllowedError, "answers POST, not GET"),
        ("tiny", "POST", MethodNotAllowedError, "answers GET, not POST"),
        ("tiny/other/thing", "GET", NotFoundError, "no such route"),
    ],
)
def test_bad_v1_paths_say_what_is_wrong(
    tail: str, method: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        parse_v1_path(tail, method)


def test_row_format_with_named_instances_stacks_each_input() -> None:
    body = {"instances": [{"x": [1, 2, 3], "k": 4}, {"x": [0, 0, 1], "k": 1}]}
    request = parse_predict_request(body, tiny_model())
    assert request.signature.key == "serving_default"
    assert request.rows == 2 and not request.columnar
    assert request.inputs["x"].shape == (2, 3) and request.inputs["x"].dtype == np.float32
    assert request.inputs["k"].tolist() == [4, 1]


def test_row_format_with_one_input_takes_plain_values() -> None:
    request = parse_predict_request(
        {"signature_name": "scores", "instances": [[1, 2, 3]]}, tiny_model()
    )
    assert request.inputs["x"].tolist() == [[1.0, 2.0, 3.0]]


def test_columnar_format_takes_whole_tensors() -> None:
    body = {"inputs": {"x": [[1, 2, 3], [4, 5, 6]], "k": [1, 2]}}
    request = parse_predict_request(body, tiny_model())
    assert request.columnar and request.rows == 2
    mismatched = parse_predict_request({"inputs": {"x": [[1, 2, 3]], "k": [1, 2]}}, tiny_model())
    assert mismatched.rows is None  # run alone: it cannot be split out of a batch


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([1, 2], "must be a JSON object"),
        ({}, "needs 'instances' (row format) or 'inputs'"),
        ({"instances": [], "inputs": []}, "not both"),
        ({"instances": []}, "'instances' is empty"),
        ({"instances": {"x": 1}}, "'instances' must be a list"),
        ({"instances": [[1, 2, 3]]}, "takes 2 inputs: each instance must be an object"),
        ({"instances": [{"x": [1, 2, 3]}]}, "instances[0] is missing input 'k'"),
        ({"instances": [{"x": [1, 2, 3], "k": 1, "z": 0}]}, "unknown input 'z'"),
        ({"instances": [{"x": [1, 2], "k": 1}]}, "input 'x' expects shape [-1, 3] but got [1, 2]"),
        ({"instances": [{"x": [1, 2, 3], "k": 0.5}]}, "input 'k' expects int64"),
        ({"inputs": [[1, 2, 3]]}, "'inputs' must be an object naming them"),
        ({"signature_name": "nope", "instances": [1]}, "no signature 'nope'"),
        ({"signature_name": 7, "instances": [1]}, "'signature_name' must be a string"),
    ],
)
def test_bad_predict_bodies_are_refused_with_a_reason(body: Any, words: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_predict_request(body, tiny_model())
    assert words in caught.value.message


def test_row_responses_are_per_instance_and_columnar_per_output() -> None:
    outputs = {"y": np.array([[0.5, 1.0], [2.0, 3.0]], np.float32), "ids": np.array([8, 2])}
    rows = parse_predict_request(
        {"instances": [{"x": [1, 2, 3], "k": 4}, {"x": [0, 0, 1], "k": 1}]}, tiny_model()
    )
    assert predict_response(rows, outputs) == {
        "predictions": [{"ids": 8, "y": [0.5, 1.0]}, {"ids": 2, "y": [2.0, 3.0]}]
    }
    columns = parse_predict_request({"inputs": {"x": [[1, 2, 3]] * 2, "k": [4, 1]}}, tiny_model())
    assert predict_response(columns, outputs) == {
        "outputs": {"ids": [8, 2], "y": [[0.5, 1.0], [2.0, 3.0]]}
    }
    single = parse_predict_request(
        {"signature_name": "scores", "inputs": [[1, 2, 3]]}, tiny_model()
    )
    assert predict_response(single, {"scores": np.array([[0.25, 0.75]])}) == {
        "outputs": [[0.25, 0.75]]
    }


def test_a_row_response_needs_one_output_row_per_instance() -> None:
    request = parse_predict_request(
        {"signature_name": "scores", "instances": [[1, 2, 3]]}, tiny_model()
    )
    with pytest.raises(ModelError, match="not one row per instance"):
        predict_response(request, {"scores": np.array(1.0)})


def test_examples_take_context_and_infer_feature_kinds() -> None:
    body = {
        "context": {"lang": "en"},
        "examples": [{"x": [1.0, 2, 3], "n": 3}, {"x": [0.5], "n": [1, 2], "raw": {"b64": "AA=="}}],
    }
    request = parse_examples_request(body, tiny_model(), "classify")
    assert request.signature.key == "classify"
    first, second = request.examples
    assert first == {
        "lang": ("bytes", (b"en",)),
        "x": ("float", (1.0, 2.0, 3.0)),
        "n": ("int64", (3,)),
    }
    assert second["raw"] == ("bytes", (b"\x00",)) and second["n"] == ("int64", (1, 2))


@pytest.mark.parametrize(
    ("body", "verb", "words"),
    [
        (
            {"signature_name": "scores", "examples": [{}]},
            "classify",
            "method_name tensorflow/serving/predict; signatures that can: classify",
        ),
        ({"examples": []}, "regress", "'examples' must be a non-empty list"),
        ({"examples": [{"a": [[1]]}]}, "regress", "a flat list of values"),
        ({"examples": [{"a": None}]}, "regress", "numbers, strings"),
        ({"context": {"a": 1}, "examples": [{"a": 2}]}, "regress", "which 'context' already sets"),
    ],
)
def test_bad_examples_are_refused_with_a_reason(body: Any, verb: Any, words: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_examples_request(body, tiny_model(), verb)
    assert words in caught.value.message


def test_classify_and_regress_results_have_tf_serving_shapes() -> None:
    outputs = {
        "classes": np.array([[b"neg", b"pos"]], dtype=object),
        "scores": np.array([[0.25, 0.75]], dtype=np.float32),
    }
    assert classify_response(outputs, 1) == {"result": [[["neg", 0.25], ["pos", 0.75]]]}
    assert regress_response({"outputs": np.array([[1.5], [2.0]])}, 2) == {"result": [1.5, 2.0]}
    with pytest.raises(ModelError):
        regress_response({"outputs": np.array([[1.5, 1.0]])}, 1)


def test_status_and_metadata_read_like_tf_serving() -> None:
    assert version_status(3, "AVAILABLE") == {
        "model_version_status": [
            {
                "version": "3",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    metadata = model_metadata(tiny_model())
    assert metadata["model_spec"] == {"name": "tiny", "signature_name": "", "version": "3"}
    default = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["x"] == {
        "dtype": "DT_FLOAT",
        "tensor_shape": {
            "dim": [{"size": "-1", "name": ""}, {"size": "3", "name": ""}],
            "unknown_rank": False,
        },
        "name": "x:0",
    }
    assert default["inputs"]["k"]["dtype"] == "DT_INT64"
