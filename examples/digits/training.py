"""The digits example as a `modelship train` entrypoint (the contract in docs/training.md):
spec.training.entrypoint: training:train, in the image examples/digits/Dockerfile builds."""

from __future__ import annotations

from typing import Any

from digits import build_and_train, export_saved_model


def train(ctx: Any) -> tuple[Any, dict[str, float]]:
    with ctx.strategy.scope():
        model, metrics = build_and_train(epochs=8, seed=ctx.version)
    return export_saved_model(model, ctx.scratch_dir / "saved_model"), metrics
