"""The monitored features of a model's tensors, computed with NumPy: which features a tensor
has, a baseline made from a sample, and the bin counts of a batch of live rows.

Which features (the same rule on every side, from the tensor's name and its row shape):
- a tensor of at most MAX_ELEMENT_FEATURES numbers per row (tabular inputs, the digits'
  64 pixels, class probabilities): one feature per element, "name[i]" (row-major index);
- a bigger tensor (an image): summaries of each row, "name:mean" and "name:std", and for a
  channels-last tensor of 2 to 4 channels each channel's mean, "name:c0:mean" ...;
- tensors that are not numbers (strings) are not monitored.
Inputs come first; at most MAX_INPUT_FEATURES input and MAX_OUTPUT_FEATURES output features
are kept (in the order of the tensors' names), so a summary's size is bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from modelship.artifacts.baseline import Baseline, FeatureBaseline, Source

MAX_ELEMENT_FEATURES: Final = 64
MAX_INPUT_FEATURES: Final = 192
MAX_OUTPUT_FEATURES: Final = 64
DEFAULT_BINS: Final = 10
MAX_SAMPLE_ROWS: Final = 100_000  # a bigger sample is thinned (evenly, deterministically)
_MAX_CHANNELS: Final = 4

Array = np.ndarray[Any, Any]


def feature_columns(name: str, array: Array) -> list[tuple[str, Array]]:
    """The features of one tensor (rows along axis 0): [(feature name, one value per row)]."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf" or array.ndim == 0:
        return []
    rows = array.shape[0]
    flat = array.reshape(rows, -1).astype(np.float64, copy=False)
    width = flat.shape[1]
    if width == 0:
        return []
    if width <= MAX_ELEMENT_FEATURES:
        return [(f"{name}[{i}]", flat[:, i]) for i in range(width)]
    columns = [(f"{name}:mean", flat.mean(axis=1)), (f"{name}:std", flat.std(axis=1))]
    channels = array.shape[-1]
    if array.ndim >= 3 and 2 <= channels <= _MAX_CHANNELS:
        means = array.reshape(rows, -1, channels).astype(np.float64, copy=False).mean(axis=1)
        columns += [(f"{name}:c{c}:mean", means[:, c]) for c in range(channels)]
    return columns


def tensor_features(tensors: Mapping[str, Array], source: Source) -> list[tuple[str, Array]]:
    """Every kept feature of the input (or output) tensors, in the bounded, stable order."""
    limit = MAX_INPUT_FEATURES if source == "input" else MAX_OUTPUT_FEATURES
    found: list[tuple[str, Array]] = []
    for name in sorted(tensors):
        found += feature_columns(name, tensors[name])
        if len(found) >= limit:
            return found[:limit]
    return found


def quantile_edges(values: Array, bins: int = DEFAULT_BINS) -> tuple[float, ...]:
    """Edges that cut the sample into `bins` bins of equal share (fewer where values repeat:
    a pixel that is always 0 has the one edge 0)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return ()
    cuts = np.quantile(finite, np.arange(1, bins) / bins)
    return tuple(float(e) for e in np.unique(cuts))


def bin_counts(edges: Array, values: Array) -> Array:
    """How many of `values` fall in each of the len(edges) + 1 bins (artifacts.baseline's
    rule; NaN counts in the last bin)."""
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)


def make_baseline(
    inputs: Mapping[str, Array],
    outputs: Mapping[str, Array] | None = None,
    bins: int = DEFAULT_BINS,
) -> Baseline:
    """The baseline of a sample: its input tensors and (optionally) the model's outputs for
    them. ValueError when the sample has no rows or no numeric tensor."""
    sample = {name: np.asarray(array) for name, array in inputs.items()}
    rows = {a.shape[0] for a in sample.values() if a.ndim > 0}
    if not sample or len(rows) != 1 or 0 in rows:
        raise ValueError("the sample needs one or more rows, the same number in every input")
    count = rows.pop()
    keep = _thinned(count)
    chosen = [("input", tensor_features(_take(sample, keep), "input"))]
    if outputs:
        chosen.append(("output", tensor_features(_take(outputs, keep), "output")))
    features = []
    for source, columns in chosen:
        for name, values in columns:
            edges = quantile_edges(values, bins)
            counts = bin_counts(np.asarray(edges, dtype=np.float64), values)
            features.append(
                FeatureBaseline(
                    name=name,
                    source=source,  # type: ignore[arg-type]
                    edges=edges,
                    counts=tuple(int(c) for c in counts),
                )
            )
    if not features:
        raise ValueError("the sample has no numeric tensor to monitor")
    samples = count if keep is None else len(keep)
    return Baseline(samples=samples, features=tuple(features))


def _thinned(rows: int) -> Array | None:
    if rows <= MAX_SAMPLE_ROWS:
        return None
    return np.linspace(0, rows - 1, MAX_SAMPLE_ROWS).astype(np.int64)


def _take(tensors: Mapping[str, Array], keep: Array | None) -> dict[str, Array]:
    arrays = {name: np.asarray(a) for name, a in tensors.items()}
    if keep is None:
        return arrays
    return {name: a[keep] for name, a in arrays.items()}


@dataclass(frozen=True)
class _Monitored:
    key: str
    source: Source
    tensor_feature: str
    edges: Array


class FeatureCounter:
    """Bins live rows the way a baseline binned its sample: `count(inputs, outputs)` returns
    one array of bin counts per baseline feature (a feature the batch lacks counts zero)."""

    def __init__(self, baseline: Baseline) -> None:
        self.baseline = baseline
        self.features = tuple(
            _Monitored(f.key, f.source, f.name, np.asarray(f.edges, dtype=np.float64))
            for f in baseline.features
        )
        self.sizes = tuple(f.edges.size + 1 for f in self.features)

    def count(self, inputs: Mapping[str, Array], outputs: Mapping[str, Array]) -> list[Array]:
        columns: dict[tuple[str, str], Array] = {}
        for source, tensors in (("input", inputs), ("output", outputs)):
            for name, values in tensor_features(tensors, source):  # type: ignore[arg-type]
                columns[(source, name)] = values
        counts = []
        for feature, size in zip(self.features, self.sizes, strict=True):
            found = columns.get((feature.source, feature.tensor_feature))
            if found is None:
                counts.append(np.zeros(size, dtype=np.int64))
            else:
                counts.append(bin_counts(feature.edges, found))
        return counts


def rows_of(tensors: Mapping[str, Array]) -> int:
    """The batch's rows (0 when it has no tensor with a row axis)."""
    return next((int(np.asarray(a).shape[0]) for a in tensors.values() if np.ndim(a) > 0), 0)
