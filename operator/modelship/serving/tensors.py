"""Tensors between JSON and numpy: checked against a signature's dtype and shape on the way
in, written back as plain JSON values on the way out.

Strings follow TF Serving's convention: text as JSON strings, binary data as
`{"b64": "<base64>"}`; an output whose key ends in `_bytes` is always written base64.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from modelship.serving.errors import BadRequestError
from modelship.serving.signatures import TensorInfo, dtype_named, numpy_dtype

_KIND_WORDS = {
    "b": "booleans",
    "i": "integers",
    "u": "integers",
    "f": "non-integer numbers",
    "U": "strings",
    "S": "strings",
    "O": "mixed or non-numeric values (null, objects or out-of-range integers)",
}
# Which JSON element kinds each target kind accepts: numbers widen to floats, never the
# other way, and booleans stay booleans (TF Serving refuses 1.5 for an int64 input).
_ACCEPTED_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}


def shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def array_from_json(value: Any, spec: TensorInfo, what: str) -> np.ndarray[Any, Any]:
    """The JSON `value` as an array of `spec`'s dtype; BadRequestError names `what` (e.g.
    "input 'pixels'") and the problem. The shape is not checked here: see `check_shape`."""
    dtype = dtype_named(spec.dtype)
    if dtype is None:
        raise BadRequestError(
            f"{what} has dtype {spec.dtype}, which this server cannot take over JSON"
        )
    if dtype.name == "string":
        return _string_array(value, what)
    if isinstance(value, dict):
        raise BadRequestError(f"{what} expects {dtype.name} values but got a JSON object")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise BadRequestError(
            f"{what} is not a rectangular array: every row must have the same length"
        ) from None
    target = numpy_dtype(dtype)
    if array.size and array.dtype.kind not in _ACCEPTED_KINDS[target.kind]:
        got = _KIND_WORDS.get(array.dtype.kind, str(array.dtype))
        raise BadRequestError(f"{what} expects {dtype.name} values but got {got}")
    if array.size and target.kind in "iu":
        limits = np.iinfo(target)  # type: ignore[type-var]
        if int(array.min()) < limits.min or int(array.max()) > limits.max:
            raise BadRequestError(
                f"{what} has a value outside the range of {dtype.name} "
                f"({limits.min} to {limits.max})"
            )
    return array.astype(target, copy=False)


def check_shape(actual: tuple[int, ...], spec: TensorInfo, what: str, hint: str = "") -> None:
    """BadRequestError unless `actual` fits the signature's shape (a -1 dim fits any size)."""
    if spec.shape is None:
        return
    fits = len(actual) == len(spec.shape) and all(
        want is None or want == got for got, want in zip(actual, spec.shape, strict=True)
    )
    if not fits:
        raise BadRequestError(
            f"{what} expects shape {spec.shape_text()} but got {shape_text(actual)}{hint}"
        )


def json_from_array(array: np.ndarray[Any, Any], key: str) -> Any:
    """The array as nested JSON lists; strings as text, or base64 where they are not UTF-8
    or the output's key ends in `_bytes` (TF Serving's rule)."""
    if array.dtype.kind in "OS":
        return _strings_json(array.tolist(), always_b64=key.endswith("_bytes"))
    return array.tolist()


def flat_json_from_array(array: np.ndarray[Any, Any]) -> list[Any]:
    """Row-major flat values, as the Open Inference Protocol sends tensor data; strings
    as text (invalid UTF-8 replaced, the protocol's JSON form has no binary escape)."""
    flat = array.reshape(-1)
    if flat.dtype.kind in "OS":
        return [_text(v) for v in flat.tolist()]
    values: list[Any] = flat.tolist()
    return values


def _text(value: Any) -> Any:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _strings_json(value: Any, always_b64: bool) -> Any:
    if isinstance(value, list):
        return [_strings_json(v, always_b64) for v in value]
    if isinstance(value, bytes):
        if not always_b64:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def _string_array(value: Any, what: str) -> np.ndarray[Any, Any]:
    tree = _bytes_tree(value, what)
    shape = _nested_shape(tree)
    if shape is None:
        raise BadRequestError(
            f"{what} is not a rectangular array: every row must have the same length"
        )
    flat: list[bytes] = []
    _flatten(tree, flat)
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(shape)


def _bytes_tree(value: Any, what: str) -> Any:
    if isinstance(value, list):
        return [_bytes_tree(v, what) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequestError(f"{what} has a 'b64' value that is not valid base64") from None
    raise BadRequestError(
        f'{what} expects strings (text, or {{"b64": ...}} for binary data) but got '
        f"{type(value).__name__ if value is not None else 'null'}"
    )


def _nested_shape(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    inner = [_nested_shape(v) for v in value]
    first = inner[0]
    if first is None or any(s != first for s in inner):
        return None
    return (len(value), *first)


def _flatten(value: Any, into: list[bytes]) -> None:
    if isinstance(value, list):
        for v in value:
            _flatten(v, into)
    else:
        into.append(value)
