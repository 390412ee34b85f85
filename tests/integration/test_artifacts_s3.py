"""The artifact store against a real S3 server: publish, list, pull, and every way a version
can be unusable (incomplete, replaced, damaged, unsafe, inaccessible)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modelship.artifacts import (
    ArtifactError,
    ArtifactStore,
    S3Settings,
    StorageUri,
    TransferTuning,
    make_s3_client,
    parse_storage_uri,
)
from modelship.cli import main

pytestmark = pytest.mark.integration

MODEL = "models/digits"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SavedModel (a few KB): y = x @ w + b with a serving signature."""
    tf = pytest.importorskip("tensorflow")

    class Linear(tf.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(tf.ones([4, 1]))
            self.b = tf.Variable(tf.zeros([1]))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x: Any) -> dict[str, Any]:
            return {"y": tf.matmul(x, self.w) + self.b}

    path = tmp_path_factory.mktemp("savedmodel") / "linear"
    module = Linear()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def settings(server: Any, secret_key: str | None = None) -> S3Settings:
    return S3Settings(
        endpoint=server.endpoint,
        region=server.region,
        access_key_id=server.access_key,
        secret_access_key=secret_key or server.secret_key,
    )


@pytest.fixture
def uri(s3_bucket: str) -> StorageUri:
    return parse_storage_uri(f"s3://{s3_bucket}/{MODEL}")


@pytest.fixture
def store(s3_server: Any, uri: StorageUri) -> ArtifactStore:
    return ArtifactStore(make_s3_client(settings(s3_server)), uri)


@pytest.fixture
def cli(s3_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    """`modelship ...` in this process, configured only through the standard AWS variables."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODELSHIP_TERMINATION_LOG", str(tmp_path / "termination-log"))
    yield CliRunner()


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    """Anything in `folder` (staging folders of a failed pull included)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_push_versions_pull_round_trip(
    cli: CliRunner, saved_model: Path, uri: StorageUri, tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"accuracy": 0.97}')
    pushed = cli.invoke(main, ["push", str(saved_model), str(uri), "--metrics", str(metrics)])
    assert pushed.exit_code == 0, pushed.output
    assert f"published {uri} version 1 (sha256:" in pushed.output

    listed = cli.invoke(main, ["versions", str(uri), "--output", "json"])
    assert listed.exit_code == 0, listed.output
    [record] = json.loads(listed.output)
    assert record["number"] == 1 and record["state"] == "complete"
    assert record["metrics"] == {"accuracy": 0.97}
    assert record["framework"] == "tensorflow"
    assert record["digest"] in pushed.output

    dest = tmp_path / "models" / "digits" / "1"
    pulled = cli.invoke(main, ["pull", str(uri), "--version", "latest", str(dest)])
    assert pulled.exit_code == 0, pulled.output
    copy = files_of(dest)
    manifest = json.loads(copy.pop("modelship.json"))
    assert copy == files_of(saved_model)
    assert manifest["version"] == 1
    assert manifest["metrics"] == {"accuracy": 0.97}
    [signature] = manifest["signatures"].values()
    assert signature["inputs"] == {"x": {"dtype": "float32", "shape": [None, 4]}}
    assert signature["outputs"] == {"y": {"dtype": "float32", "shape": [None, 1]}}
    assert leftovers(dest.parent) == ["1"]  # no staging folder left behind


def test_push_records_a_drift_baseline_from_a_sample_or_a_baseline_file(
    cli: CliRunner, saved_model: Path, uri: StorageUri, store: ArtifactStore, tmp_path: Path
) -> None:
    import numpy as np

    sample = tmp_path / "sample.npz"
    rows = np.random.default_rng(0).random((200, 4), dtype=np.float32)
    np.savez(sample, x=rows)
    pushed = cli.invoke(main, ["push", str(saved_model), str(uri), "--baseline", str(sample)])
    assert pushed.exit_code == 0, pushed.output
    baseline = store.check_version(1).manifest.baseline  # type: ignore[union-attr]
    assert baseline is not None and baseline.samples == 200
    keys = [f.key for f in baseline.features]
    assert keys == [f"input x[{i}]" for i in range(4)] + ["output y[0]"]

    recorded = tmp_path / "baseline.json"
    recorded.write_text(json.dumps(baseline.to_dict()))
    again = cli.invoke(main, ["push", str(saved_model), str(uri), "--baseline", str(recorded)])
    assert again.exit_code == 0, again.output
    assert store.check_version(2).manifest.baseline == baseline  # type: ignore[union-attr]

    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"z": [[1.0, 2.0]]}))
    refused = cli.invoke(main, ["push", str(saved_model), str(uri), "--baseline", str(wrong)])
    assert refused.exit_code == 1
    assert "InvalidBaseline" in refused.output and "serving signature" in refused.output


def test_the_versions_table_is_for_people(
    cli: CliRunner, store: ArtifactStore, saved_model: Path, uri: StorageUri
) -> None:
    store.push(saved_model, metrics={"accuracy": 0.5})
    shown = cli.invoke(main, ["versions", str(uri)])
    assert shown.exit_code == 0, shown.output
    header, row = shown.output.splitlines()
    assert header.split()[:3] == ["VERSION", "STATE", "SIZE"]
    assert row.split()[:2] == ["1", "complete"] and "accuracy=0.5" in row


def test_pulling_twice_leaves_the_verified_copy_alone(
    store: ArtifactStore, saved_model: Path, tmp_path: Path
) -> None:
    store.push(saved_model)
    dest = tmp_path / "1"
    first = store.pull(1, dest)
    before = {p: p.stat().st_ino for p in dest.rglob("*")}
    second = store.pull(1, dest)
    assert second.digest == first.digest
    assert {p: p.stat().st_ino for p in dest.rglob("*")} == before


def test_pull_repairs_a_damaged_local_copy(
    store: ArtifactStore, saved_model: Path, tmp_path: Path
) -> None:
    store.push(saved_model)
    dest = tmp_path / "1"
    store.pull(1, dest)
    (dest / "saved_model.pb").write_bytes(b"damaged")
    store.pull(1, dest)
    assert (dest / "saved_model.pb").read_bytes() == (saved_model / "saved_model.pb").read_bytes()


def test_push_twice_gives_two_versions_and_never_overwrites(
    cli: CliRunner, store: ArtifactStore, saved_model: Path, uri: StorageUri
) -> None:
    assert store.push(saved_model).number == 1
    assert store.push(saved_model).number == 2
    with pytest.raises(ArtifactError) as caught:
        store.push(saved_model, version=1)
    assert caught.value.reason == "VersionExists"

    again = cli.invoke(main, ["push", str(saved_model), str(uri), "--version", "2"])
    assert again.exit_code == 1
    assert again.output.startswith("error: VersionExists: version 2 of")
    assert [v.number for v in store.list_versions()] == [1, 2]


def test_a_replaced_object_is_caught_by_the_listing_and_by_the_pull(
    s3_server: Any, store: ArtifactStore, saved_model: Path, uri: StorageUri, tmp_path: Path
) -> None:
    store.push(saved_model)
    key = uri.key(1, "saved_model.pb")
    client = s3_server.client()
    data = bytearray(client.get_object(Bucket=uri.bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01  # one flipped bit, same size
    client.put_object(Bucket=uri.bucket, Key=key, Body=bytes(data))

    [info] = store.list_versions()
    assert (info.state, info.reason) == ("corrupt", "ChecksumMismatch")
    dest = tmp_path / "models" / "1"
    with pytest.raises(ArtifactError) as caught:
        store.pull(1, dest)
    assert caught.value.reason == "ChecksumMismatch"
    assert not dest.exists() and leftovers(dest.parent) == []


def test_bytes_damaged_inside_the_store_fail_the_full_verification(
    cli: CliRunner,
    s3_server: Any,
    store: ArtifactStore,
    saved_model: Path,
    uri: StorageUri,
    tmp_path: Path,
) -> None:
    """Damage the server cannot see (its recorded ETag is unchanged): only sha256 finds it."""
    root = getattr(s3_server, "root_dir", None)
    if root is None:
        pytest.skip("needs the local versitygw, whose files lie on this disk")
    store.push(saved_model)
    stored = Path(root) / "data" / uri.bucket / uri.key(1, "saved_model.pb")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))

    assert store.check_version(1).state == "complete"  # the cheap check cannot know
    verified = cli.invoke(main, ["versions", str(uri), "--verify", "--output", "json"])
    assert verified.exit_code == 0, verified.output
    [record] = json.loads(verified.output)
    assert (record["state"], record["reason"]) == ("corrupt", "ChecksumMismatch")
    dest = tmp_path / "models" / "1"
    with pytest.raises(ArtifactError) as caught:
        store.pull(1, dest)
    assert caught.value.reason == "ChecksumMismatch"
    assert "saved_model.pb" in caught.value.message
    assert not dest.exists() and leftovers(dest.parent) == []


def test_a_key_that_escapes_the_folder_is_refused(
    s3_server: Any, store: ArtifactStore, saved_model: Path, uri: StorageUri, tmp_path: Path
) -> None:
    published = store.push(saved_model)
    assert published.manifest is not None
    client = s3_server.client()
    client.put_object(Bucket=uri.bucket, Key=uri.key(2, "../../x"), Body=b"gotcha")
    for entry in published.manifest.files:
        source = {"Bucket": uri.bucket, "Key": uri.key(1, entry.path)}
        client.copy_object(Bucket=uri.bucket, Key=uri.key(2, entry.path), CopySource=source)
    manifest = json.loads(published.manifest.to_json())
    manifest["version"] = 2
    manifest["files"].append({"path": "../../x", "size": 6, "sha256": "0" * 64, "etag": None})
    client.put_object(
        Bucket=uri.bucket, Key=uri.key(2, "modelship.json"), Body=json.dumps(manifest).encode()
    )

    dest = tmp_path / "deep" / "models" / "2"
    with pytest.raises(ArtifactError) as caught:
        store.pull(2, dest)
    assert caught.value.reason == "UnsafeKey"
    assert "../../x" in caught.value.message
    assert not (tmp_path / "deep" / "x").exists() and not (tmp_path / "x").exists()
    assert not dest.exists()
    assert store.list_versions()[1].reason == "UnsafeKey"
    latest = store.pull("latest", tmp_path / "latest")
    assert latest.number == 1


def test_a_version_without_manifest_is_incomplete_and_never_latest(
    cli: CliRunner,
    s3_server: Any,
    store: ArtifactStore,
    saved_model: Path,
    uri: StorageUri,
    tmp_path: Path,
) -> None:
    store.push(saved_model)
    s3_server.client().put_object(
        Bucket=uri.bucket, Key=uri.key(2, "saved_model.pb"), Body=b"half an upload"
    )
    states = [(v.number, v.state) for v in store.list_versions()]
    assert states == [(1, "complete"), (2, "incomplete")]
    assert store.pull("latest", tmp_path / "m").number == 1

    explicit = cli.invoke(main, ["pull", str(uri), "--version", "2", str(tmp_path / "m2")])
    assert explicit.exit_code == 1
    assert explicit.output.startswith("error: ManifestMissing: version 2 has no modelship.json")
    assert (tmp_path / "termination-log").read_text().startswith("ManifestMissing: ")
    assert not (tmp_path / "m2").exists()


def test_an_unfinished_version_folder_may_be_published_again(
    s3_server: Any, store: ArtifactStore, saved_model: Path, uri: StorageUri
) -> None:
    """A training Job that died mid-upload can be retried under the number it was given."""
    s3_server.client().put_object(
        Bucket=uri.bucket, Key=uri.key(4, "saved_model.pb"), Body=b"half an upload"
    )
    info = store.push(saved_model, version=4)
    assert info.state == "complete"
    assert store.check_version(4).state == "complete"


def test_big_files_go_up_in_parts_and_come_down_in_ranges(
    s3_server: Any, saved_model: Path, uri: StorageUri, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for entry in saved_model.rglob("*"):
        if entry.is_file():
            target = model / entry.relative_to(saved_model)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(entry.read_bytes())
    (model / "assets").mkdir(exist_ok=True)
    (model / "assets" / "table.bin").write_bytes(os.urandom(11 * 1024 * 1024 + 3))
    tuning = TransferTuning(
        concurrency=4, part_size=5 * 1024 * 1024, multipart_threshold=5 * 1024 * 1024
    )
    store = ArtifactStore(make_s3_client(settings(s3_server), concurrency=4), uri, tuning)

    info = store.push(model)
    assert info.manifest is not None
    big = next(f for f in info.manifest.files if f.path == "assets/table.bin")
    assert big.etag is not None and big.etag.endswith("-3")  # a 3-part multipart upload
    assert store.check_version(1).state == "complete"
    store.pull(1, tmp_path / "copy")
    copy = files_of(tmp_path / "copy")
    del copy["modelship.json"]
    assert copy == files_of(model)


def test_a_folder_that_is_not_a_saved_model_is_refused(
    cli: CliRunner, tmp_path: Path, uri: StorageUri
) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    result = cli.invoke(main, ["push", str(tmp_path), str(uri)])
    assert result.exit_code == 1
    assert result.output.startswith("error: InvalidModel: ")


def test_wrong_secret_key_is_access_denied(
    cli: CliRunner, s3_server: Any, uri: StorageUri, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(make_s3_client(settings(s3_server, secret_key="wrong")), uri)
    with pytest.raises(ArtifactError) as caught:
        store.list_versions()
    assert caught.value.reason == "AccessDenied"

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    result = cli.invoke(main, ["versions", str(uri)])
    assert result.exit_code == 1
    assert result.output.startswith("error: AccessDenied: ")
    assert "wrong" not in result.output  # the secret is never echoed


def test_a_missing_bucket_is_named(s3_server: Any, tmp_path: Path) -> None:
    store = ArtifactStore(
        make_s3_client(settings(s3_server)), parse_storage_uri("s3://no-such-bucket/m")
    )
    with pytest.raises(ArtifactError) as caught:
        store.pull("latest", tmp_path / "m")
    assert caught.value.reason == "BucketNotFound"
    assert "no-such-bucket" in caught.value.message


def test_missing_versions_are_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as caught:
        store.pull("latest", tmp_path / "m")
    assert caught.value.reason == "VersionNotFound"
    with pytest.raises(ArtifactError) as caught:
        store.check_version(7)
    assert caught.value.reason == "VersionNotFound"


def test_an_unreachable_store_is_unavailable(uri: StorageUri, tmp_path: Path) -> None:
    closed = S3Settings(
        endpoint="http://127.0.0.1:9", region="us-east-1", access_key_id="k", secret_access_key="s"
    )
    store = ArtifactStore(make_s3_client(closed), uri)
    with pytest.raises(ArtifactError) as caught:
        store.pull(1, tmp_path / "m")
    assert caught.value.reason == "StorageUnavailable"
    assert not (tmp_path / "m").exists()


def test_the_pull_command_as_an_init_container_runs_it(
    s3_server: Any, store: ArtifactStore, saved_model: Path, uri: StorageUri, tmp_path: Path
) -> None:
    """The real entry point in its own process, configured by environment only."""
    store.push(saved_model)
    log = tmp_path / "termination-log"
    env = {**os.environ, **s3_server.env(), "MODELSHIP_TERMINATION_LOG": str(log)}
    command = [sys.executable, "-c", "from modelship.cli import main; main()", "pull"]

    ok = subprocess.run(
        [*command, str(uri), "--version", "1", str(tmp_path / "m" / "1")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "m" / "1" / "saved_model.pb").is_file()

    missing = subprocess.run(
        [*command, str(uri), "--version", "9", str(tmp_path / "m" / "9")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: VersionNotFound: version 9 does not exist")
    assert log.read_text().startswith("VersionNotFound: version 9")


class _Interloper:
    """Progress that, as a transfer starts, lets someone else act on the store first."""

    def __init__(self, act: Any) -> None:
        self.act = act

    def begin(self, total_bytes: int) -> None:
        self.act()

    def advance(self, nbytes: int) -> None:
        pass

    def end(self) -> None:
        pass


def test_a_rival_publishing_the_same_version_first_wins(
    s3_server: Any, store: ArtifactStore, saved_model: Path, uri: StorageUri
) -> None:
    """The check before the upload cannot see a rival that publishes during it: the
    conditional write of the manifest is what keeps the rival's version intact."""
    rival_manifest = b'{"rival": true}'
    client = s3_server.client()

    def rival() -> None:
        client.put_object(Bucket=uri.bucket, Key=uri.key(1, "modelship.json"), Body=rival_manifest)

    with pytest.raises(ArtifactError) as caught:
        store.push(saved_model, progress=_Interloper(rival))
    assert caught.value.reason == "VersionExists"
    stored = client.get_object(Bucket=uri.bucket, Key=uri.key(1, "modelship.json"))
    assert stored["Body"].read() == rival_manifest


def test_a_deleted_file_makes_the_version_corrupt(
    s3_server: Any, store: ArtifactStore, saved_model: Path, uri: StorageUri, tmp_path: Path
) -> None:
    store.push(saved_model)
    s3_server.client().delete_object(Bucket=uri.bucket, Key=uri.key(1, "saved_model.pb"))
    [info] = store.list_versions()
    assert (info.state, info.reason) == ("corrupt", "SizeMismatch")
    assert info.message is not None and "saved_model.pb" in info.message
    with pytest.raises(ArtifactError) as caught:
        store.pull("latest", tmp_path / "m")
    assert caught.value.reason == "VersionNotFound"  # the only version is not complete


def test_a_file_deleted_while_pulling_leaves_nothing(
    s3_server: Any, store: ArtifactStore, saved_model: Path, uri: StorageUri, tmp_path: Path
) -> None:
    store.push(saved_model)
    client = s3_server.client()

    def delete() -> None:
        client.delete_object(Bucket=uri.bucket, Key=uri.key(1, "saved_model.pb"))

    dest = tmp_path / "models" / "1"
    with pytest.raises(ArtifactError) as caught:
        store.pull(1, dest, progress=_Interloper(delete))
    assert caught.value.reason == "SizeMismatch"
    assert not dest.exists() and leftovers(dest.parent) == []
