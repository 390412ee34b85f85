"""A small digits classifier: scikit-learn's bundled 8x8 digits (no download), a two-layer
Keras network, and a SavedModel export with the serving signature modelship's examples use:
input `pixels` float32 [None, 64] (grey levels 0..16 scaled to 0..1), output `probabilities`
float32 [None, 10].

`build_and_train` is importable on its own, so a `modelship train` entrypoint can reuse it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"
FEATURES = 64
CLASSES = 10


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> tuple[np.ndarray, ...]:
    """(x_train, x_test, y_train, y_test): pixels scaled to 0..1 as float32, labels int64."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = (digits.data / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    return tuple(
        train_test_split(
            pixels, labels, test_size=test_fraction, random_state=seed, stratify=labels
        )
    )


def build_and_train(
    epochs: int = 15, seed: int = 0, hidden_units: int = 32, batch_size: int = 32
) -> tuple[Any, dict[str, float]]:
    """Train on 80% of the digits and evaluate on the rest: (keras model, {"accuracy",
    "loss"}). Seconds on a CPU; the same seed gives the same model."""
    import keras  # type: ignore[import-untyped]

    keras.utils.set_random_seed(seed)
    x_train, x_test, y_train, y_test = load_digits_split(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(FEATURES,), name=INPUT_NAME),
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dense(CLASSES, activation="softmax", name=OUTPUT_NAME),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return model, {"accuracy": float(accuracy), "loss": float(loss)}


def export_saved_model(model: Any, output: Path | str) -> Path:
    """Write `model` as a TF SavedModel whose `serving_default` signature takes `pixels` and
    returns `probabilities`, the names TF Serving clients will use."""
    import tensorflow as tf

    class DigitsServing(tf.Module):
        def __init__(self, classifier: Any) -> None:
            super().__init__()
            self.classifier = classifier

        @tf.function(input_signature=[tf.TensorSpec([None, FEATURES], tf.float32, INPUT_NAME)])
        def serve(self, pixels: Any) -> dict[str, Any]:
            return {OUTPUT_NAME: self.classifier(pixels, training=False)}

    module = DigitsServing(model)
    path = Path(output)
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path
