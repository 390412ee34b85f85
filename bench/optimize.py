"""Benchmark of post-training quantization (`modelship optimize`): for each model, the source
SavedModel against its Float16, DynamicRange and Int8 TensorFlow Lite versions, in one run on
one machine — size on disk, p50 latency of one row, throughput at a batch of 32 rows, and the
change in accuracy on the evaluation data.

    python bench/optimize.py [--calls 300] [--seconds 3]

Two models:
- digits: the digits example (examples/digits), trained for a few epochs at the start,
  evaluated on its held-out 20% (real labels);
- cnn: a compute-bound convolutional network (64x64x3 images, four 3x3 convolutions of
  32-128 channels, about 100 MFLOPs per image) with random weights; its "accuracy" is the
  share of random images on which a version picks the class the source picks.

Every model is loaded and called through the server's own loader (`modelship.serving.model.
load_model`, which picks TensorFlow or LiteRT from the folder), with the runtimes' default
thread settings, as `modelship serve` runs them. In-process calls: no HTTP, so the figures
are the model's, not the server's.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Row:
    model: str
    version: str
    size: int
    p50_ms: float
    rows_per_s: float
    accuracy: float
    source_accuracy: float


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def digits_model(scratch: Path) -> tuple[Path, Path]:
    """The digits example, trained and exported; its held-out split as evaluation data."""
    spec = importlib.util.spec_from_file_location("digits", ROOT / "examples/digits/digits.py")
    assert spec and spec.loader
    digits: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(digits)
    model, _ = digits.build_and_train(epochs=15)
    saved = digits.export_saved_model(model, scratch / "digits")
    _, x_test, _, y_test = digits.load_digits_split()
    evaluation = scratch / "digits.npz"
    np.savez(evaluation, pixels=x_test, labels=y_test)
    return saved, evaluation


def cnn_model(scratch: Path, rows: int = 256) -> tuple[Path, Path]:
    """A convolutional network with random weights; labels are its own answers."""
    import keras  # type: ignore[import-untyped]
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    network = keras.Sequential(
        [
            keras.Input(shape=(64, 64, 3)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(128, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(128, 3, strides=2, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )

    class Serving(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        @tf.function(input_signature=[tf.TensorSpec([None, 64, 64, 3], tf.float32, "image")])
        def serve(self, image: Any) -> dict[str, Any]:
            return {"probabilities": self.network(image, training=False)}

    module = Serving()
    saved = scratch / "cnn"
    tf.saved_model.save(module, str(saved), signatures={"serving_default": module.serve})
    images = np.random.default_rng(5).uniform(size=(rows, 64, 64, 3)).astype(np.float32)
    labels = module.serve(tf.constant(images))["probabilities"].numpy().argmax(axis=-1)
    evaluation = scratch / "cnn.npz"
    np.savez(evaluation, image=images, labels=labels.astype(np.int64))
    return saved, evaluation


def measure(call: Callable[[int], Any], calls: int, seconds: float) -> tuple[float, float]:
    """(p50 ms of one row, rows/s at batches of 32 for `seconds`), after a warm-up."""
    for _ in range(10):
        call(1)
        call(32)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        call(1)
        latencies.append(time.perf_counter() - started)
    rows = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        call(32)
        rows += 32
    return float(np.percentile(latencies, 50)) * 1000, rows / (time.perf_counter() - started)


def bench_model(
    name: str, saved: Path, evaluation: Path, scratch: Path, calls: int, seconds: float
) -> list[Row]:
    from modelship.serving.model import load_model
    from modelship.serving.model_path import FRAMEWORK_TFLITE, ModelVersionPath
    from modelship.training.quantization import (
        QUANTIZATIONS,
        convert,
        evaluate,
        read_evaluation_data,
    )

    data = read_evaluation_data(evaluation.read_bytes(), str(evaluation))
    folders: list[tuple[str, Path, str]] = [("SavedModel (source)", saved, "tensorflow")]
    for method in QUANTIZATIONS:
        target = scratch / f"{name}-{method}"
        convert(saved, method, target, data)
        folders.append((method, target, FRAMEWORK_TFLITE))
    rows: list[Row] = []
    source_accuracy = 0.0
    for version, folder, framework in folders:
        model = load_model(name, ModelVersionPath(1, folder, framework))
        model.warm_up()
        signature = model.info.signature(None)
        (tensor,) = signature.inputs
        sample = data.inputs[tensor.key]

        def call(batch: int, model: Any = model, key: str = tensor.key, rows: Any = sample) -> Any:
            return model.run("serving_default", {key: rows[:batch]})

        def predict(inputs: dict[str, Any], model: Any = model) -> Any:
            return model.run("serving_default", inputs)

        accuracy = evaluate(predict, data, {tensor.key: tensor.dtype})["accuracy"]
        if framework == "tensorflow":
            source_accuracy = accuracy
        p50, throughput = measure(call, calls, seconds)
        size = folder_size(folder)
        rows.append(Row(name, version, size, p50, throughput, accuracy, source_accuracy))
        print(f"  {name} {version}: done", file=sys.stderr, flush=True)
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| model | version | size | p50, 1 row | rows/s, batch 32 | accuracy | change |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        change = row.accuracy - row.source_accuracy
        lines.append(
            f"| {row.model} | {row.version} | {row.size / 1024:,.1f} KiB | {row.p50_ms:.3f} ms "
            f"| {row.rows_per_s:,.0f} | {row.accuracy:.4f} | {change:+.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="one-row calls for the p50")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per throughput run")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT / "operator"))
    import tensorflow as tf

    try:
        import ai_edge_litert

        runtime = f"LiteRT {getattr(ai_edge_litert, '__version__', '?')}"
    except ImportError:
        runtime = "tf.lite.Interpreter (LiteRT not installed)"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, TensorFlow {tf.__version__}, {runtime}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-optimize-") as folder:
        scratch = Path(folder)
        rows = []
        for name, build in (("digits", digits_model), ("cnn", cnn_model)):
            saved, evaluation = build(scratch)
            rows += bench_model(name, saved, evaluation, scratch, args.calls, args.seconds)
    print(table(rows))


if __name__ == "__main__":
    main()
