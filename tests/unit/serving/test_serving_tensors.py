"""JSON values <-> numpy arrays, checked against a signature's dtype and shape."""

from __future__ import annotations

import numpy as np
import pytest

from modelship.serving.errors import BadRequestError
from modelship.serving.tensors import (
    array_from_json,
    check_shape,
    flat_json_from_array,
    json_from_array,
)
from tests.unit.serving.builders import tensor


def test_numbers_become_the_signature_dtype() -> None:
    array = array_from_json([[1, 2.5, 3]], tensor("x", "float32", None, 3), "input 'x'")
    assert array.dtype == np.float32
    assert array.tolist() == [[1.0, 2.5, 3.0]]


@pytest.mark.parametrize(
    ("value", "dtype", "words"),
    [
        ([1.5], "int64", "expects int64 values but got non-integer numbers"),
        (["a"], "float32", "expects float32 values but got strings"),
        ([1, None], "float32", "mixed or non-numeric values"),
        ([True], "float32", "got booleans"),
        ([1], "bool", "expects bool values but got integers"),
        ([300], "uint8", "outside the range of uint8 (0 to 255)"),
        ({"a": 1}, "float32", "got a JSON object"),
        ([[1, 2], [3]], "float32", "not a rectangular array"),
        ([["a"], ["b", "c"]], "string", "not a rectangular array"),
        ([3], "string", "expects strings"),
        ([{"b64": "%%%"}], "string", "not valid base64"),
    ],
)
def test_wrong_values_name_the_input_and_the_problem(value: object, dtype: str, words: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        array_from_json(value, tensor("x", dtype, None), "input 'x'")
    assert "input 'x'" in caught.value.message
    assert words in caught.value.message


def test_strings_take_text_and_base64() -> None:
    array = array_from_json(["héllo", {"b64": "AAE="}], tensor("s", "string", None), "input 's'")
    assert array.tolist() == ["héllo".encode(), b"\x00\x01"]
    assert array.dtype == object


def test_string_outputs_are_text_unless_binary_or_named_bytes() -> None:
    array = np.array([b"ok", b"\xff\xfe"], dtype=object)
    assert json_from_array(array, "text") == ["ok", {"b64": "//4="}]
    assert json_from_array(array, "image_bytes") == [{"b64": "b2s="}, {"b64": "//4="}]
    assert flat_json_from_array(np.array([[1, 2], [3, 4]])) == [1, 2, 3, 4]


def test_shapes_fit_when_every_known_dimension_matches() -> None:
    spec = tensor("x", "float32", None, 3)
    check_shape((5, 3), spec, "input 'x'")
    with pytest.raises(BadRequestError, match=r"expects shape \[-1, 3\] but got \[5, 4\]"):
        check_shape((5, 4), spec, "input 'x'")
    with pytest.raises(BadRequestError, match=r"but got \[3\]"):
        check_shape((3,), spec, "input 'x'")
