"""Small real models for tests: a TensorFlow SavedModel of a few KB, made once per session."""

from __future__ import annotations

from pathlib import Path


def write_tiny_saved_model(path: Path, scale: float = 2.0) -> Path:
    """A SavedModel whose serving signature maps `x` float32[None, 4] to `y` = x * scale + 1."""
    import tensorflow as tf

    class Tiny(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = tf.Variable(scale, dtype=tf.float32)

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": x * self.scale + 1.0}

    module = Tiny()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def write_classifier(path: Path, *, fragile: bool = False, features: int = 256) -> Path:
    """A SavedModel classifying `x` float32[None, features] into 8 classes: `probabilities`
    = softmax(x @ W). Its weights are big enough (2,048) for TensorFlow Lite to quantize.

    Robust: W is random, the classes are far apart, quantization changes few answers.
    Fragile: every column of W is 1 plus or minus 1e-4, so the classes differ by less than
    int8 or float16 can hold and quantization collapses them (accuracy falls to about 1/8).
    """
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(7)
    if fragile:
        weights = 1.0 + 1e-4 * rng.choice([-1.0, 1.0], size=(features, 8))
    else:
        weights = rng.normal(size=(features, 8))

    class Classifier(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = tf.Variable(weights.astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, features], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"probabilities": tf.nn.softmax(tf.matmul(x, self.weights))}

    module = Classifier()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def write_classifier_evaluation(saved_model: Path, target: Path, rows: int = 512) -> Path:
    """An evaluation .npz for `write_classifier`'s model: random inputs `x`, and as `labels`
    the source model's own answers (so the source scores accuracy 1.0 and any loss is the
    quantization's)."""
    import numpy as np
    import tensorflow as tf

    features = 256
    x = np.random.default_rng(11).uniform(size=(rows, features)).astype(np.float32)
    serve = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    labels = serve(x=tf.constant(x))["probabilities"].numpy().argmax(axis=-1)
    np.savez(target, x=x, labels=labels.astype(np.int64))
    return target


def write_slow_saved_model(path: Path, matmuls: int = 40, size: int = 256) -> Path:
    """The tiny model's signature and answers (`y` = x * 2 + 1), made slow on purpose: before
    answering it multiplies a size-by-size matrix derived from the input `matmuls` times (the
    input dependence keeps TensorFlow from computing the loop once when it loads the model)."""
    import tensorflow as tf

    class Slow(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = tf.Variable(tf.eye(size) * 0.5)

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            start = tf.fill([size, size], tf.reduce_mean(x))

            def step(i: tf.Tensor, m: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
                return i + 1, tf.tanh(tf.matmul(m, self.weights))

            _, m = tf.while_loop(lambda i, _: i < matmuls, step, (tf.constant(0), start))
            # A zero that TensorFlow cannot prove is zero: the answer waits for the loop.
            nothing = tf.minimum(tf.abs(tf.reduce_sum(m)), 0.0)
            return {"y": x * 2.0 + 1.0 + nothing}

    module = Slow()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def write_failing_saved_model(path: Path, above: float = 100.0) -> Path:
    """The tiny model's signature and answers (`y` = x * 2 + 1) for inputs up to `above`;
    for a batch with any input above it, the model itself fails (an OutOfRangeError from an
    empty dataset, which a server reports as its own failure, not the client's)."""
    import tensorflow as tf

    class Failing(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            rows = tf.cast(tf.reduce_max(x) <= above, tf.int64)
            nothing = iter(tf.data.Dataset.range(rows)).get_next()  # fails with no rows
            return {"y": x * 2.0 + 1.0 + tf.cast(nothing, tf.float32)}

    module = Failing()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path
