"""What `modelship versions` shows a person, and how bad metrics files are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelship.artifacts import ArtifactError, VersionInfo
from modelship.cli.artifacts import _metrics_file, human_size, version_record, versions_table


def test_sizes_read_like_a_person_writes_them() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(3 * 1024**3) == "3.0 GiB"


def test_the_table_explains_each_problem_under_its_row() -> None:
    versions = [
        VersionInfo(
            1,
            "complete",
            None,
            "sha256:" + "a" * 64,
            2048,
            "2025-05-01T12:00:00Z",
            {"accuracy": 0.97},
        ),
        VersionInfo(
            2,
            "incomplete",
            None,
            None,
            10,
            None,
            {},
            "ManifestMissing",
            "version 2 has no modelship.json.",
        ),
    ]
    lines = versions_table(versions).splitlines()
    assert lines[0].split() == ["VERSION", "STATE", "SIZE", "CREATED", "DIGEST", "METRICS"]
    assert lines[1].split()[:2] == ["1", "complete"]
    assert "accuracy=0.97" in lines[1]
    assert lines[2].split()[:2] == ["2", "incomplete"]
    assert lines[3].strip() == "ManifestMissing: version 2 has no modelship.json."


def test_json_records_carry_the_state_and_reason() -> None:
    info = VersionInfo(4, "corrupt", None, "sha256:x", 1, None, {}, "ChecksumMismatch", "m.")
    record = version_record(info)
    assert record["number"] == 4 and record["state"] == "corrupt"
    assert record["reason"] == "ChecksumMismatch"
    json.dumps(record)  # serialisable as is
    assert record["derived_from"] is None


def test_json_records_name_an_optimized_versions_source() -> None:
    from modelship.artifacts import DerivedFrom, Manifest, ManifestFile

    manifest = Manifest(
        version=5,
        files=(ManifestFile("model.tflite", 10, "0" * 64),),
        framework="tflite",
        framework_version="2.21.0",
        signatures=(),
        created="2025-05-01T12:00:00Z",
        derived_from=DerivedFrom(4, "Int8", None, {"accuracy": 0.95}),
    )
    info = VersionInfo(5, "complete", manifest, "sha256:x", 10, manifest.created, {})
    record = version_record(info)
    assert record["framework"] == "tflite"
    assert record["derived_from"] == {
        "version": 4, "method": "Int8", "digest": None, "source_metrics": {"accuracy": 0.95}
    }  # fmt: skip


def test_metrics_file_must_map_names_to_numbers(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"accuracy": 0.97, "epochs": 3}')
    assert _metrics_file(good) == {"accuracy": 0.97, "epochs": 3.0}
    for text in ('{"accuracy": "high"}', "[0.9]", "not json", '{"a": true}'):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ArtifactError) as caught:
            _metrics_file(bad)
        assert caught.value.reason == "InvalidMetrics"


def test_pull_and_versions_never_import_tensorflow() -> None:
    """An init container pulling a model must not pay ~10 s (and the memory) for TF."""
    import subprocess
    import sys

    code = (
        "import sys, modelship.cli.artifacts, modelship.artifacts; "
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
