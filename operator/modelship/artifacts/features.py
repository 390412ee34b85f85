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


def tensor_matrix(name: str, array: Array) -> tuple[list[str], Array]:
    """The features of one tensor (rows along axis 0): their names, and a matrix of one
    column per feature (for a small tensor, its rows as they are: no copy)."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf" or array.ndim == 0:
        return [], np.empty((0, 0))
    rows = array.shape[0]
    flat = array.reshape(rows, -1).astype(np.float64, copy=False)
    width = flat.shape[1]
    if width == 0:
        return [], np.empty((rows, 0))
    if width <= MAX_ELEMENT_FEATURES:
        return [f"{name}[{i}]" for i in range(width)], flat
    names = [f"{name}:mean", f"{name}:std"]
    columns = [flat.mean(axis=1), flat.std(axis=1)]
    channels = array.shape[-1]
    if array.ndim >= 3 and 2 <= channels <= _MAX_CHANNELS:
        means = array.reshape(rows, -1, channels).astype(np.float64, copy=False).mean(axis=1)
        names += [f"{name}:c{c}:mean" for c in range(channels)]
        columns += [means[:, c] for c in range(channels)]
    return names, np.stack(columns, axis=1)


def feature_columns(name: str, array: Array) -> list[tuple[str, Array]]:
    """The features of one tensor: [(feature name, one value per row)]."""
    names, matrix = tensor_matrix(name, array)
    return [(feature, matrix[:, i]) for i, feature in enumerate(names)]


def tensors_matrix(tensors: Mapping[str, Array], source: Source) -> tuple[list[str], Array]:
    """Every kept feature of the input (or output) tensors, in the bounded, stable order: the
    names and one column per feature."""
    limit = MAX_INPUT_FEATURES if source == "input" else MAX_OUTPUT_FEATURES
    names: list[str] = []
    parts: list[Array] = []
    for name in sorted(tensors):
        found, matrix = tensor_matrix(name, tensors[name])
        if found:
            names += found
            parts.append(matrix)
        if len(names) >= limit:
            break
    if not parts:
        return [], np.empty((0, 0))
    joined = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    return names[:limit], joined[:, :limit]


def tensor_features(tensors: Mapping[str, Array], source: Source) -> list[tuple[str, Array]]:
    """The same as (name, column) pairs."""
    names, matrix = tensors_matrix(tensors, source)
    return [(feature, matrix[:, i]) for i, feature in enumerate(names)]


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


class FeatureCounter:
    """Bins live rows the way a baseline binned its sample. `count(inputs, outputs)` returns
    the bin counts of every baseline feature, one after the other (`offsets[i]` is where
    feature i's `sizes[i]` bins start); a feature the batch lacks counts zero.

    All features of a tensor are binned at once (each value compared with its feature's
    edges, padded with +inf to the longest), so a batch costs a few NumPy calls per edge
    position, not per feature."""

    def __init__(self, baseline: Baseline) -> None:
        self.baseline = baseline
        self.keys = tuple((f.source, f.name) for f in baseline.features)
        self.sizes = tuple(len(f.edges) + 1 for f in baseline.features)
        self.offsets = np.concatenate(([0], np.cumsum(self.sizes)[:-1])).astype(np.int64)
        self.total_bins = int(sum(self.sizes))
        width = max(1, max(len(f.edges) for f in baseline.features))
        self.edges = np.full((len(self.keys), width), np.inf)
        for index, feature in enumerate(baseline.features):
            self.edges[index, : len(feature.edges)] = feature.edges
        self._column_cache: dict[tuple[str, tuple[str, ...]], tuple[Array, Array]] = {}

    def count(self, inputs: Mapping[str, Array], outputs: Mapping[str, Array]) -> Array:
        counts = np.zeros(self.total_bins, dtype=np.int64)
        for source, tensors in (("input", inputs), ("output", outputs)):
            names, matrix = tensors_matrix(tensors, source)  # type: ignore[arg-type]
            if not names:
                continue
            taken, wanted = self._columns(source, tuple(names))
            if not wanted.size:
                continue
            values = matrix[:, taken]
            # NaN goes to the last bin, as np.searchsorted puts it (the baseline's rule).
            values = np.where(np.isnan(values), np.inf, values)
            edges = self.edges[wanted]
            # side="left": a value's bin is the number of its feature's edges below it;
            # one comparison per edge position (+inf padding never counts).
            bins = np.zeros(values.shape, dtype=np.int64)
            for position in range(edges.shape[1]):
                bins += values > edges[:, position]
            counts += np.bincount((bins + self.offsets[wanted]).ravel(), minlength=self.total_bins)
        return counts

    def _columns(self, source: str, names: tuple[str, ...]) -> tuple[Array, Array]:
        """Which columns of a batch's matrix are baseline features, and which features they
        are; the names depend only on the tensors' shapes, so this is computed once each."""
        key = (source, names)
        found = self._column_cache.get(key)
        if found is None:
            index = {name: i for i, name in enumerate(names)}
            pairs = [
                (index[name], feature)
                for feature, (kind, name) in enumerate(self.keys)
                if kind == source and name in index
            ]
            found = (
                np.array([p[0] for p in pairs], dtype=np.int64),
                np.array([p[1] for p in pairs], dtype=np.int64),
            )
            if len(self._column_cache) < 64:  # a few shapes per model; bounded anyway
                self._column_cache[key] = found
        return found


def rows_of(tensors: Mapping[str, Array]) -> int:
    """The batch's rows (0 when it has no tensor with a row axis)."""
    return next((int(np.asarray(a).shape[0]) for a in tensors.values() if np.ndim(a) > 0), 0)
