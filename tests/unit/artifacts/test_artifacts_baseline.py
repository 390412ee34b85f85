"""The drift baseline: its features, bins and counts, its place in the manifest, and the
documents it refuses."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from modelship.artifacts import ArtifactError, Manifest, ManifestFile, Signature, TensorSpec
from modelship.artifacts.baseline import (
    Baseline,
    BaselineError,
    FeatureBaseline,
    bin_index,
    parse_baseline,
)
from modelship.artifacts.features import (
    MAX_ELEMENT_FEATURES,
    MAX_INPUT_FEATURES,
    FeatureCounter,
    feature_columns,
    make_baseline,
)


def digits_like(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.random((rows, 64), dtype=np.float32)
    pixels[:, :8] = 0.0  # the top row of an 8x8 digit is blank
    return pixels


def a_manifest(baseline: Baseline | None) -> Manifest:
    return Manifest(
        version=1,
        files=(ManifestFile("saved_model.pb", 10, "ab" * 32, "e"),),
        framework="tensorflow",
        framework_version="2.21.0",
        signatures=(Signature("serving_default", (TensorSpec("x", "float32", (None, 2)),), ()),),
        created="2025-05-01T12:00:00Z",
        baseline=baseline,
    )


def test_small_tensors_have_a_feature_per_element_and_big_ones_summaries() -> None:
    pixels = [name for name, _ in feature_columns("pixels", digits_like(5))]
    assert pixels == [f"pixels[{i}]" for i in range(64)]
    images = np.zeros((5, 28, 28, 3), dtype=np.uint8)
    assert [name for name, _ in feature_columns("image", images)] == [
        "image:mean",
        "image:std",
        "image:c0:mean",
        "image:c1:mean",
        "image:c2:mean",
    ]
    grey = np.zeros((5, 28, 28), dtype=np.float32)
    assert [name for name, _ in feature_columns("grey", grey)] == ["grey:mean", "grey:std"]
    assert feature_columns("text", np.array([b"a", b"b"], dtype=object)) == []
    assert MAX_ELEMENT_FEATURES == 64


def test_the_number_of_features_is_bounded() -> None:
    wide = {f"in{i:02d}": np.zeros((3, 64), dtype=np.float32) for i in range(10)}
    baseline = make_baseline(wide)
    assert len(baseline.features) == MAX_INPUT_FEATURES


def test_a_baseline_bins_the_sample_in_quantiles_that_add_up() -> None:
    sample = digits_like(1000)
    outputs = {"probabilities": np.full((1000, 10), 0.1, dtype=np.float32)}
    baseline = make_baseline({"pixels": sample}, outputs)
    assert baseline.samples == 1000
    assert len(baseline.features) == 64 + 10
    blank = baseline.feature("input pixels[0]")
    assert blank is not None and blank.edges == (0.0,) and blank.counts == (1000, 0)
    varied = baseline.feature("input pixels[20]")
    assert varied is not None and len(varied.edges) == 9
    assert all(90 <= c <= 110 for c in varied.counts)  # deciles: about 100 rows each
    assert all(sum(f.counts) == 1000 for f in baseline.features)
    assert baseline.feature("output probabilities[3]") is not None


def test_counting_live_rows_uses_the_baselines_bins() -> None:
    sample = digits_like(500)
    baseline = make_baseline({"pixels": sample})
    counter = FeatureCounter(baseline)

    def per_feature(counts: np.ndarray) -> list[tuple[int, ...]]:
        return [
            tuple(int(c) for c in counts[start : start + size])
            for start, size in zip(counter.offsets, counter.sizes, strict=True)
        ]

    counts = counter.count({"pixels": sample}, {})
    assert per_feature(counts) == [f.counts for f in baseline.features]
    inverted = per_feature(counter.count({"pixels": 1.0 - sample}, {}))
    blank = [f.key for f in baseline.features].index("input pixels[0]")
    assert inverted[blank] == (0, 500)  # the blank border turned white
    # Values on an edge, beyond the range, NaN, and a feature the batch lacks.
    edges = baseline.feature("input pixels[20]").edges  # type: ignore[union-attr]
    probe = np.zeros((4, 64), dtype=np.float64)
    probe[:, 20] = [edges[0], edges[-1] + 5, -5.0, np.nan]
    probed = per_feature(counter.count({"pixels": probe}, {}))[20]
    assert (probed[0], probed[-1]) == (2, 2)  # on the first edge and below: bin 0
    assert per_feature(counter.count({"other": probe}, {})) == [
        (0,) * size for size in counter.sizes
    ]


def test_the_python_bin_rule_is_numpys() -> None:
    edges = [0.0, 0.5, 1.0]
    for value in (-1.0, 0.0, 0.2, 0.5, 0.7, 1.0, 3.0):
        expected = int(np.searchsorted(np.array(edges), value, side="left"))
        assert bin_index(edges, value) == expected


def test_the_manifest_carries_the_baseline_and_keeps_its_bytes_without_one() -> None:
    baseline = make_baseline({"x": np.arange(20, dtype=np.float32).reshape(10, 2)})
    data = a_manifest(baseline).to_json()
    assert Manifest.from_json(data).baseline == baseline
    plain = a_manifest(None).to_json()
    assert "baseline" not in json.loads(plain)
    assert Manifest.from_json(plain).baseline is None


def a_document(**changes: Any) -> dict[str, Any]:
    feature = {"name": "x[0]", "source": "input", "edges": [0.0, 1.0], "counts": [1, 2, 3]}
    feature.update(changes)
    return {"samples": 6, "features": [feature]}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"counts": [1, 2]}, "needs 3 counts, not 2"),
        ({"counts": [1, 2, 4]}, "add up to 7, not baseline.samples (6)"),
        ({"edges": [1.0, 0.0]}, "strictly increasing"),
        ({"edges": [0.0, float("inf")]}, "finite numbers"),
        ({"source": "label"}, "input or output"),
        ({"counts": [1, -2, 7]}, "non-negative integers"),
    ],
)
def test_a_bad_baseline_is_refused_naming_the_problem(
    changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(BaselineError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_baseline(a_document(**changes))
    document = json.loads(a_manifest(None).to_json())
    document["baseline"] = a_document(**changes)
    with pytest.raises(ArtifactError) as raised:
        Manifest.from_json(json.dumps(document, allow_nan=True).encode())
    assert raised.value.reason == "ManifestInvalid"


def test_a_baseline_round_trips_through_its_json_form() -> None:
    baseline = Baseline(
        samples=6,
        features=(FeatureBaseline("x[0]", "output", (0.0, 1.0), (1, 2, 3)),),
    )
    assert parse_baseline(json.loads(json.dumps(baseline.to_dict()))) == baseline
