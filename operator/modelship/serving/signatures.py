"""What a loaded model offers: its signatures, their tensors, and the dtype names each API uses.

TensorFlow, TensorFlow Serving's JSON and the Open Inference Protocol each spell a dtype
differently ("float32", "DT_FLOAT", "FP32"); the one table below maps them, so the request
parsers and response formatters never guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from modelship.serving.errors import BadRequestError

PREDICT_METHOD: Final = "tensorflow/serving/predict"
CLASSIFY_METHOD: Final = "tensorflow/serving/classify"
REGRESS_METHOD: Final = "tensorflow/serving/regress"
DEFAULT_SIGNATURE: Final = "serving_default"

# The tensor keys TensorFlow's classification and regression signature builders use.
EXAMPLES_INPUT: Final = "inputs"
CLASSES_OUTPUT: Final = "classes"
SCORES_OUTPUT: Final = "scores"
REGRESS_OUTPUT: Final = "outputs"


@dataclass(frozen=True)
class DType:
    """One tensor element type under each of its names."""

    name: str  # TensorFlow's name, e.g. "float32"
    enum: str  # the DataType enum TF Serving's metadata shows, e.g. "DT_FLOAT"
    v2: str  # the Open Inference Protocol datatype, e.g. "FP32"
    numpy: str  # numpy's name; "object" holds bytes for strings


DTYPES: Final = (
    DType("float16", "DT_HALF", "FP16", "float16"),
    DType("float32", "DT_FLOAT", "FP32", "float32"),
    DType("float64", "DT_DOUBLE", "FP64", "float64"),
    DType("int8", "DT_INT8", "INT8", "int8"),
    DType("int16", "DT_INT16", "INT16", "int16"),
    DType("int32", "DT_INT32", "INT32", "int32"),
    DType("int64", "DT_INT64", "INT64", "int64"),
    DType("uint8", "DT_UINT8", "UINT8", "uint8"),
    DType("uint16", "DT_UINT16", "UINT16", "uint16"),
    DType("uint32", "DT_UINT32", "UINT32", "uint32"),
    DType("uint64", "DT_UINT64", "UINT64", "uint64"),
    DType("bool", "DT_BOOL", "BOOL", "bool"),
    DType("string", "DT_STRING", "BYTES", "object"),
)
_BY_NAME: Final = {d.name: d for d in DTYPES}
_BY_V2: Final = {d.v2: d for d in DTYPES}


def dtype_named(name: str) -> DType | None:
    """The dtype TensorFlow calls `name`; None when the server cannot carry it over JSON."""
    return _BY_NAME.get(name)


def dtype_for_v2(datatype: str) -> DType | None:
    """The dtype an Open Inference Protocol `datatype` names; None when unknown."""
    return _BY_V2.get(datatype)


def numpy_dtype(dtype: DType) -> np.dtype[np.generic]:
    return np.dtype(dtype.numpy)


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of a signature."""

    key: str  # the name callers use in requests, e.g. "pixels"
    dtype: str  # TensorFlow's dtype name, e.g. "float32"
    shape: tuple[int | None, ...] | None  # None: unknown rank; a None dim: any size
    tensor_name: str = ""  # the graph tensor behind it, e.g. "serving_default_pixels:0"

    def shape_text(self) -> str:
        """The shape as TF Serving prints it: [-1, 64]; unknown rank as 'any shape'."""
        if self.shape is None:
            return "any shape"
        return "[" + ", ".join("-1" if d is None else str(d) for d in self.shape) + "]"

    @property
    def batched(self) -> bool:
        """True when the first dimension is the batch: known rank >= 1 and any size."""
        return self.shape is not None and len(self.shape) >= 1 and self.shape[0] is None


@dataclass(frozen=True)
class SignatureInfo:
    """A callable entry point of the model, as TF Serving exposes it."""

    key: str
    method_name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    def input_named(self, key: str) -> TensorInfo | None:
        return next((t for t in self.inputs if t.key == key), None)

    def output_named(self, key: str) -> TensorInfo | None:
        return next((t for t in self.outputs if t.key == key), None)

    @property
    def batchable(self) -> bool:
        """Whether requests can be concatenated along axis 0 and the results split back:
        every input and output has the batch as its first dimension."""
        return bool(self.inputs) and all(t.batched for t in (*self.inputs, *self.outputs))


@dataclass(frozen=True)
class ModelInfo:
    """The model one server serves: its name, version, folder and signatures."""

    name: str
    version: int
    path: str
    signatures: tuple[SignatureInfo, ...]
    platform: str = "tensorflow_savedmodel"  # the Open Inference Protocol's word for the format

    @property
    def default_signature(self) -> str:
        """serving_default when the model has it, else its only (or first) signature: the
        Open Inference Protocol cannot name one, and a lone signature is unambiguous."""
        keys = [s.key for s in self.signatures]
        return DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in keys or not keys else keys[0]

    def signature(self, key: str | None) -> SignatureInfo:
        """The signature `key` names (the default one when None); BadRequestError names the
        signatures there are."""
        wanted = key or self.default_signature
        for signature in self.signatures:
            if signature.key == wanted:
                return signature
        there = ", ".join(sorted(s.key for s in self.signatures)) or "none"
        raise BadRequestError(
            f"model '{self.name}' version {self.version} has no signature '{wanted}'; "
            f"its signatures are: {there}"
        )
