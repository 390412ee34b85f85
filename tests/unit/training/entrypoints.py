"""Training entrypoints for the trainer's tests: each is what a user could write, kept tiny
(a few synthetic rows, seconds of training). `modelship train --entrypoint
tests.unit.training.entrypoints:<name>` calls them from the repository root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelship.training import TrainingContext

FEATURES = 4
CLASSES = 3


def _model(ctx: TrainingContext) -> Any:
    import keras

    with ctx.strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((FEATURES,), name="x"),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(CLASSES, activation="softmax"),
            ]
        )
        model.compile(
            optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
    return model


def tiny(ctx: TrainingContext) -> tuple[Any, dict[str, float]]:
    """A 2-layer classifier fitted for two epochs on 64 synthetic rows."""
    import numpy as np

    rng = np.random.default_rng(ctx.task.index)
    x = rng.random((64, FEATURES), dtype=np.float32)
    y = (x.sum(axis=1) * CLASSES / FEATURES).astype(np.int64).clip(0, CLASSES - 1)
    model = _model(ctx)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    scores = model.evaluate(x, y, verbose=0, return_dict=True)
    ctx.record_baseline(x)  # the drift baseline: the training inputs
    return model, {"accuracy": float(scores["accuracy"]), "loss": scores["loss"]}


def report_context(ctx: TrainingContext) -> tuple[Any, dict[str, float]]:
    """An untrained model; writes what the context held to the file named by ctx.args[0]."""
    Path(ctx.args[0]).write_text(
        json.dumps(
            {
                "version": ctx.version,
                "output": ctx.output,
                "data": ctx.data,
                "args": list(ctx.args),
                "scratch_dir_writable": ctx.scratch_dir.is_dir(),
                "is_chief": ctx.is_chief,
                "num_workers": ctx.num_workers,
                "strategy": type(ctx.strategy).__name__,
            }
        )
    )
    return _model(ctx), {"accuracy": 0.5}


def saved_model_folder(ctx: TrainingContext) -> tuple[str, dict[str, float]]:
    """Saves a SavedModel itself and returns its folder."""
    import tensorflow as tf

    class Doubler(tf.Module):  # type: ignore[misc]
        @tf.function(input_signature=[tf.TensorSpec([None, FEATURES], tf.float32, name="x")])
        def __call__(self, x: Any) -> dict[str, Any]:
            return {"y": x * 2.0}

    path = ctx.scratch_dir / "doubler"
    module = Doubler()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return str(path), {"accuracy": 1.0}


def fails(ctx: TrainingContext) -> None:
    raise ValueError(f"the data at {ctx.data} has no rows\n(second line)")


def returns_nothing(ctx: TrainingContext) -> None:
    return None


def returns_a_dict(ctx: TrainingContext) -> dict[str, float]:
    return {"accuracy": 0.9}


def returns_bad_metrics(ctx: TrainingContext) -> tuple[Any, dict[str, Any]]:
    return _model(ctx), {"accuracy": "high"}


NOT_A_FUNCTION = 42


def tiny_custom_loop(ctx: TrainingContext) -> tuple[Any, dict[str, float]]:
    """A few steps of a custom training loop, which (unlike Keras 3's `fit`) works with
    MultiWorkerMirroredStrategy: each step's gradients are all-reduced across workers."""
    import keras
    import numpy as np
    import tensorflow as tf

    strategy = ctx.strategy
    global_batch = 8 * strategy.num_replicas_in_sync
    rng = np.random.default_rng(0)
    x = rng.random((64, FEATURES), dtype=np.float32)
    y = (x.sum(axis=1) * CLASSES / FEATURES).astype(np.int64).clip(0, CLASSES - 1)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(global_batch)
    batches = iter(strategy.experimental_distribute_dataset(dataset))
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((FEATURES,), name="x"),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(CLASSES, activation="softmax"),
            ]
        )
        optimizer = keras.optimizers.SGD(0.1)
        optimizer.build(model.trainable_variables)
    per_example = keras.losses.SparseCategoricalCrossentropy(reduction="none")

    @tf.function
    def step(batch: Any) -> Any:
        def on_replica(features: Any, labels: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(
                    per_example(labels, model(features, training=True)),
                    global_batch_size=global_batch,
                )
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
            return loss

        losses = strategy.run(on_replica, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    loss = 0.0
    for _ in range(4):
        loss = float(step(next(batches)))
    return model, {"loss": loss, "workers": float(ctx.num_workers)}


def from_captures(ctx: TrainingContext) -> tuple[Any, dict[str, float]]:
    """Trains on the serving pods' captured requests, with labels joined later: ctx.data is a
    JSON file mapping each request's masked `id` to its label (as a labelling system that
    knows the mask key writes it). docs/capture.md shows the same."""
    import numpy as np

    labels = json.loads(Path(str(ctx.data)).read_text())
    rows, targets, captured = [], [], 0
    for record in ctx.captured_records():
        for x, key in zip(record["inputs"]["x"], record["inputs"]["id"], strict=True):
            captured += 1
            if key in labels:
                rows.append(x)
                targets.append(labels[key])
    model = _model(ctx)
    model.fit(np.array(rows, np.float32), np.array(targets, np.int64), epochs=1, verbose=0)
    return model, {"captured_rows": float(captured), "labelled_rows": float(len(rows))}
