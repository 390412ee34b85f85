"""Train the digits classifier, export it as a SavedModel and, with --push, publish it.

python examples/digits/train.py --output /tmp/digits [--metrics-file /tmp/metrics.json]
    [--push s3://models/digits]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from digits import build_and_train, export_saved_model, load_digits_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path, help="SavedModel folder to write")
    parser.add_argument("--metrics-file", type=Path, help="also write the metrics here (JSON)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--push",
        metavar="URI",
        help="then publish it as the next version under URI with `modelship push` "
        "(S3 settings from the environment: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)",
    )
    args = parser.parse_args(argv)
    if args.output.exists() and any(args.output.iterdir()):
        print(f"error: {args.output} exists and is not empty", file=sys.stderr)
        return 1
    model, metrics = build_and_train(epochs=args.epochs, seed=args.seed)
    export_saved_model(model, args.output)
    text = json.dumps(metrics, indent=2)
    if args.metrics_file:
        args.metrics_file.write_text(text + "\n")
    print(f"exported {args.output}: accuracy {metrics['accuracy']:.3f}")
    print(text)
    if args.push:
        return push(args.output, args.push, text, load_digits_split(args.seed)[0])
    return 0


def push(model_dir: Path, uri: str, metrics: str, x_train: np.ndarray) -> int:
    """Publish through the same command a person would run: the metrics in the manifest,
    and the training pixels' distribution as the drift baseline (docs/monitoring.md)."""
    with tempfile.TemporaryDirectory() as scratch:
        metrics_file = Path(scratch) / "metrics.json"
        metrics_file.write_text(metrics)
        sample = Path(scratch) / "pixels.npz"
        np.savez(sample, pixels=x_train)
        command = [sys.executable, "-m", "modelship", "push", str(model_dir), uri]
        extra = ["--metrics", str(metrics_file), "--baseline", str(sample)]
        return subprocess.run([*command, *extra], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
