"""A version's drift baseline: for each monitored feature of the model's inputs and outputs,
the bin edges (quantiles of the training sample) and how many sample rows fell in each bin.

It is part of the manifest (`"baseline"`), so it is as verified as the rest of the version.
This module is pure Python (the operator image has no NumPy): the types, their JSON form and
its validation, and the bin rule every side shares. The NumPy side that makes a baseline
from arrays and counts live rows is `artifacts.features`.

The bin rule: with edges e_0 < e_1 < ... < e_{k-1}, bin 0 holds v <= e_0, bin i holds
e_{i-1} < v <= e_i, and bin k holds v > e_{k-1}: k edges, k + 1 bins, open at both ends, so
a live value outside the training range still lands in a bin.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeGuard

Source = Literal["input", "output"]
SOURCES: Final = ("input", "output")
MAX_FEATURES: Final = 256  # features per version, inputs and outputs together
MAX_EDGES: Final = 64  # edges per feature


class BaselineError(ValueError):
    """The baseline document is not valid; the message names the first problem."""


@dataclass(frozen=True)
class FeatureBaseline:
    """One monitored feature: where it comes from, its bin edges and the sample's counts."""

    name: str
    """e.g. "pixels[12]" (one element of a small tensor) or "image:mean" (a summary)."""
    source: Source
    """"input" (data drift) or "output" (prediction drift)."""
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    """len(edges) + 1 counts, one per bin."""

    @property
    def key(self) -> str:
        """The feature's unique name across inputs and outputs, e.g. "input pixels[12]"."""
        return f"{self.source} {self.name}"


@dataclass(frozen=True)
class Baseline:
    """The training sample's distribution of every monitored feature."""

    samples: int
    """Rows in the sample (each feature's counts add up to it)."""
    features: tuple[FeatureBaseline, ...]

    def feature(self, key: str) -> FeatureBaseline | None:
        return next((f for f in self.features if f.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "features": [
                {
                    "name": f.name,
                    "source": f.source,
                    "edges": list(f.edges),
                    "counts": list(f.counts),
                }
                for f in self.features
            ],
        }


def bin_index(edges: Sequence[float], value: float) -> int:
    """The bin of `value` under the module's rule (the same as NumPy's
    `searchsorted(edges, value, side="left")`)."""
    return bisect.bisect_left(edges, value)


def parse_baseline(document: Any) -> Baseline:
    """Validate a baseline's JSON form; BaselineError names the first problem."""
    if not isinstance(document, dict):
        raise BaselineError("'baseline' must be an object with samples and features")
    samples = document.get("samples")
    if not _is_int(samples) or samples < 1:
        raise BaselineError("'baseline.samples' must be a positive integer")
    features = document.get("features")
    if not isinstance(features, list) or not features:
        raise BaselineError("'baseline.features' must be a non-empty list")
    if len(features) > MAX_FEATURES:
        raise BaselineError(f"'baseline.features' lists more than {MAX_FEATURES} features")
    parsed = tuple(_parse_feature(i, entry, samples) for i, entry in enumerate(features))
    keys = [f.key for f in parsed]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise BaselineError(f"'baseline.features' lists {duplicates[0]!r} more than once")
    return Baseline(samples=samples, features=parsed)


def _parse_feature(index: int, entry: Any, samples: int) -> FeatureBaseline:
    where = f"baseline.features[{index}]"
    if not isinstance(entry, dict):
        raise BaselineError(f"{where} must be an object with name, source, edges and counts")
    name = entry.get("name")
    if not isinstance(name, str) or not name or len(name) > 256:
        raise BaselineError(f"{where}.name must be a non-empty string of at most 256 characters")
    source = entry.get("source", "input")
    if source not in SOURCES:
        raise BaselineError(f"{where}.source must be input or output, not {source!r}")
    edges = entry.get("edges")
    if (
        not isinstance(edges, list)
        or len(edges) > MAX_EDGES
        or not all(_is_number(e) and math.isfinite(e) for e in edges)
    ):
        raise BaselineError(f"{where}.edges must be a list of at most {MAX_EDGES} finite numbers")
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise BaselineError(f"{where}.edges must be strictly increasing")
    counts = entry.get("counts")
    if not isinstance(counts, list) or not all(_is_int(c) and c >= 0 for c in counts):
        raise BaselineError(f"{where}.counts must be a list of non-negative integers")
    if len(counts) != len(edges) + 1:
        raise BaselineError(
            f"{where} has {len(edges)} edges, so it needs {len(edges) + 1} counts, "
            f"not {len(counts)}"
        )
    if sum(counts) != samples:
        raise BaselineError(
            f"{where}.counts add up to {sum(counts)}, not baseline.samples ({samples})"
        )
    return FeatureBaseline(
        name=name,
        source=source,
        edges=tuple(float(e) for e in edges),
        counts=tuple(counts),
    )


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
