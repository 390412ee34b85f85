"""Write the digits example's evaluation data for `spec.optimize` (docs/optimize.md): the
held-out 20% of the digits as a NumPy .npz with `pixels` (the model's input) and `labels`,
and with --upload, put it in S3.

python examples/digits/evaluation.py --output /tmp/digits-eval.npz
    [--upload s3://models/eval/digits.npz]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from digits import INPUT_NAME, load_digits_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path, help=".npz file to write")
    parser.add_argument("--seed", type=int, default=0, help="the split's seed (as training's)")
    parser.add_argument(
        "--upload",
        metavar="S3_URI",
        help="then upload it there (S3 settings from the environment: AWS_ENDPOINT_URL, ...)",
    )
    args = parser.parse_args(argv)
    _, x_test, _, y_test = load_digits_split(args.seed)
    np.savez(args.output, **{INPUT_NAME: x_test, "labels": y_test})
    print(f"wrote {args.output}: {len(x_test)} images with labels")
    if args.upload:
        import boto3

        bucket, _, key = args.upload.removeprefix("s3://").partition("/")
        boto3.client("s3").upload_file(str(args.output), bucket, key)
        print(f"uploaded to {args.upload}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
