"""The user's side of the contract: find the entrypoint `package.module:function`, and read
what it returned — a model (a Keras model, or the path of a SavedModel folder) and its
metrics."""

from __future__ import annotations

import importlib
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship.training.errors import (
    ENTRYPOINT_NOT_FOUND,
    INVALID_METRICS,
    INVALID_MODEL,
    TRAINING_FAILED,
    TrainingError,
)

_ENTRYPOINT = re.compile(
    r"^(?P<module>[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r":(?P<function>[A-Za-z_][A-Za-z0-9_]*)$"
)


def load_entrypoint(entrypoint: str) -> Callable[..., Any]:
    """Import `package.module` and return its `function`.

    The working directory is importable, as with `python -m`, so an image whose WORKDIR
    holds the training code needs no PYTHONPATH. EntrypointNotFound (permanent) when the
    module or function does not exist or the module's imports fail; TrainingFailed when the
    module raises anything else while being imported.
    """
    match = _ENTRYPOINT.match(entrypoint)
    if match is None:
        raise TrainingError(
            ENTRYPOINT_NOT_FOUND,
            f'{entrypoint!r} is not an entrypoint: write it as "package.module:function".',
            permanent=True,
        )
    module_name, function_name = match["module"], match["function"]
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        missing = getattr(err, "name", None)
        where = (
            f"module {module_name!r} is not installed in the training image"
            if missing and (module_name == missing or module_name.startswith(f"{missing}."))
            else f"importing {module_name!r} failed: {err}"
        )
        raise TrainingError(
            ENTRYPOINT_NOT_FOUND,
            f"entrypoint {entrypoint}: {where}; check spec.training.entrypoint and image.",
            permanent=True,
        ) from None
    except Exception as err:  # the user's module raised while being imported
        raise TrainingError(
            TRAINING_FAILED,
            f"importing {module_name!r} raised {type(err).__name__}: {_one_line(err)}",
        ) from err
    function = getattr(module, function_name, None)
    if function is None or not callable(function):
        what = "has no function" if function is None else "has a non-callable"
        raise TrainingError(
            ENTRYPOINT_NOT_FOUND,
            f"entrypoint {entrypoint}: module {module_name!r} {what} {function_name!r}; "
            "check spec.training.entrypoint.",
            permanent=True,
        )
    return function


@dataclass(frozen=True)
class EntrypointResult:
    """What the entrypoint returned, checked."""

    model: Any
    """A Keras model (to export) or the Path of a SavedModel folder."""
    metrics: dict[str, float]


def read_result(returned: Any, entrypoint: str) -> EntrypointResult:
    """Accept `(model, metrics)` or a bare `model` (no metrics). InvalidModel when it is not
    a model; InvalidMetrics when the metrics are not a mapping of names to finite numbers."""
    if isinstance(returned, tuple | list):
        if len(returned) != 2:
            raise _invalid_model(
                entrypoint, f"a {type(returned).__name__} of {len(returned)} items"
            )
        model, metrics = returned
    else:
        model, metrics = returned, None
    return EntrypointResult(_model(model, entrypoint), _metrics(metrics, entrypoint))


def _model(model: Any, entrypoint: str) -> Any:
    if isinstance(model, str | os.PathLike):
        path = Path(model)
        if not path.is_dir():
            raise TrainingError(
                INVALID_MODEL,
                f"{entrypoint} returned the path {str(path)!r}, which is not a folder; return "
                "a Keras model or the folder of a SavedModel.",
                permanent=True,
            )
        return path
    if _is_keras_model(model):
        return model
    raise _invalid_model(entrypoint, _describe(model))


def _is_keras_model(model: Any) -> bool:
    # Keras (and with it TensorFlow) is imported only for an object whose class comes from
    # Keras or derives from one of its classes; anything else is refused without the wait.
    if not any(
        cls.__module__.split(".")[0] in ("keras", "tf_keras", "tensorflow")
        for cls in type(model).__mro__
    ):
        return False
    try:
        keras: Any = importlib.import_module("keras")
    except ImportError:  # TensorFlow images always ship Keras
        return False
    return isinstance(model, keras.Model)


def _invalid_model(entrypoint: str, what: str) -> TrainingError:
    return TrainingError(
        INVALID_MODEL,
        f"{entrypoint} returned {what}; return (model, metrics), where model is a Keras "
        'model or the path of a SavedModel folder and metrics a dict such as {"accuracy": 0.97}.',
        permanent=True,
    )


def _metrics(metrics: Any, entrypoint: str) -> dict[str, float]:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TrainingError(
            INVALID_METRICS,
            f"{entrypoint} returned metrics of type {type(metrics).__name__}; return a dict "
            'of metric name -> number, e.g. {"accuracy": 0.97}.',
            permanent=True,
        )
    checked: dict[str, float] = {}
    for name, value in metrics.items():
        number = _number(value)
        if not isinstance(name, str) or not name or number is None:
            raise TrainingError(
                INVALID_METRICS,
                f"{entrypoint} returned the metric {name!r}: {value!r}; each metric needs a "
                "non-empty name and a finite number.",
                permanent=True,
            )
        checked[name] = number
    return checked


def _number(value: Any) -> float | None:
    """A finite float from a Python, NumPy or scalar-tensor number; None otherwise."""
    if isinstance(value, bool | str | bytes):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    kind = type(value)
    return f"an object of type {kind.__module__}.{kind.__qualname__}"


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
