"""Train the digits classifier and export it as a SavedModel ready for `modelship push`.

python examples/digits/train.py --output /tmp/digits [--metrics-file /tmp/metrics.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from digits import build_and_train, export_saved_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path, help="SavedModel folder to write")
    parser.add_argument("--metrics-file", type=Path, help="also write the metrics here (JSON)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
