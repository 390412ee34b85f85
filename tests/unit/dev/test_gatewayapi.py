"""The Gateway API CRDs come from the cache once there, and a machine without Go says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelship.dev import gatewayapi
from modelship.dev.binaries import TestbedError


def test_cached_crds_are_used_without_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSHIP_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-go-here"))
    folder = tmp_path / "crds" / "gateway-api-v9.9.9"
    folder.mkdir(parents=True)
    (folder / "gateway.networking.k8s.io_httproutes.yaml").write_text(
        "kind: CustomResourceDefinition\n"
    )
    assert gatewayapi.gateway_api_crds("v9.9.9") == [
        folder / "gateway.networking.k8s.io_httproutes.yaml"
    ]


def test_without_a_cache_or_go_the_module_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSHIP_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-go-here"))
    with pytest.raises(TestbedError, match=r"sigs.k8s.io/gateway-api@v9.9.9.*install Go"):
        gatewayapi.gateway_api_crds("v9.9.9")
