"""Building the test bed fails with a message naming what is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modelship.dev import binaries


def test_missing_go_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSHIP_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no `go` on it
    with pytest.raises(binaries.TestbedError, match="Go is not installed") as error:
        binaries.ensure_built(("kwok",))
    assert "kwok" in str(error.value)


def test_a_missing_binary_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSHIP_CACHE", str(tmp_path))
    with pytest.raises(binaries.TestbedError, match="modelship dev build"):
        binaries.binary("kube-apiserver")


def test_built_components_are_not_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSHIP_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # building would fail: there is no go
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "versitygw").write_text("")
    binaries.ensure_built(("versitygw",))  # cached: no build, no error
    assert binaries.missing_components(("versitygw", "etcd")) == ["etcd"]


@pytest.mark.skipif(shutil.which("go") is None, reason="needs Go to ask the module proxy")
def test_an_unreachable_module_proxy_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELSHIP_CACHE", str(tmp_path / "empty-cache"))
    # Nothing listens on port 1; the module cache cannot answer a version listing either.
    monkeypatch.setenv("GOPROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    monkeypatch.setenv("GOTOOLCHAIN", "local")
    with pytest.raises(binaries.TestbedError, match="failed with exit code 2"):
        binaries.ensure_built(("kwok",))
    assert "the Go module proxy (http://127.0.0.1:1) is unreachable" in capfd.readouterr().err
    assert not (tmp_path / "empty-cache" / "bin").exists()  # nothing half-built was published
