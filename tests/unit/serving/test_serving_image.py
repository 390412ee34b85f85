"""The server image installs the server extra and runs commands the CLI has (the built image
itself is checked in tests/e2e/test_images.py)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelship.cli import main
from modelship.dev import images

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "images" / "server" / "Dockerfile"


def last(name: str) -> str:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    values = [
        line.split(None, 1)[1]
        for line in text.splitlines()
        if line.strip().upper().startswith(name + " ")
    ]
    assert values, f"the server Dockerfile has no {name}"
    return values[-1]


def test_it_installs_the_core_and_the_server_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["server"]
    assert images._requirements(("server",), True) == wanted
    # TensorFlow is a build argument (tensorflow-cpu here, tensorflow[and-cuda] for GPUs).
    assert "ARG TENSORFLOW=tensorflow-cpu" in DOCKERFILE.read_text()


@pytest.mark.parametrize("command", ["serve", "pull"])
def test_the_commands_pods_run_exist_in_the_cli(command: str) -> None:
    assert json.loads(last("ENTRYPOINT")) == ["/usr/bin/tini", "--", "modelship"]
    assert json.loads(last("CMD"))[0] == "serve"
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
