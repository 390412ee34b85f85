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
