"""The digits example as a `modelship train` entrypoint (the contract in docs/training.md):
spec.training.entrypoint: training:train, in the image examples/digits/Dockerfile builds."""

from __future__ import annotations

from typing import Any

from digits import build_and_train, export_saved_model, load_digits_split


def train(ctx: Any) -> tuple[Any, dict[str, float]]:
    with ctx.strategy.scope():
        model, metrics = build_and_train(epochs=8, seed=ctx.version)
    # The drift baseline (docs/monitoring.md): the pixels the model was trained on.
    x_train = load_digits_split(ctx.version)[0]
    ctx.record_baseline(x_train)
    return export_saved_model(model, ctx.scratch_dir / "saved_model"), metrics
