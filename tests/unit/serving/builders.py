"""Small signature and model descriptions for the serving unit tests."""

from __future__ import annotations

from modelship.serving.signatures import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    ModelInfo,
    SignatureInfo,
    TensorInfo,
)


def tensor(key: str, dtype: str = "float32", *shape: int | None) -> TensorInfo:
    return TensorInfo(key=key, dtype=dtype, shape=tuple(shape), tensor_name=f"{key}:0")


def signature(
    key: str,
    inputs: tuple[TensorInfo, ...],
    outputs: tuple[TensorInfo, ...],
    method: str = PREDICT_METHOD,
) -> SignatureInfo:
    return SignatureInfo(key=key, method_name=method, inputs=inputs, outputs=outputs)


def tiny_model() -> ModelInfo:
    """Like the integration tests' SavedModel: two inputs, one input, strings, examples."""
    return ModelInfo(
        name="tiny",
        version=3,
        path="/models/tiny/3",
        signatures=(
            signature(
                "serving_default",
                (tensor("k", "int64", None), tensor("x", "float32", None, 3)),
                (tensor("ids", "int64", None), tensor("y", "float32", None, 2)),
            ),
            signature(
                "scores",
                (tensor("x", "float32", None, 3),),
                (tensor("scores", "float32", None, 2),),
            ),
            signature(
                "greet", (tensor("name", "string", None),), (tensor("greeting", "string", None),)
            ),
            signature(
                "classify",
                (tensor("inputs", "string", None),),
                (tensor("classes", "string", None, 2), tensor("scores", "float32", None, 2)),
                CLASSIFY_METHOD,
            ),
            signature(
                "regress",
                (tensor("inputs", "string", None),),
                (tensor("outputs", "float32", None, 1),),
                REGRESS_METHOD,
            ),
        ),
    )
