"""The server image runs commands the CLI has, as a non-root user, from a pinned base."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelship.cli import main

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "images" / "server" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    parsed = [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]
    stages = [i for i, (word, *_) in enumerate(parsed) if word.upper() == "FROM"]
    return [(word.upper(), rest[0] if rest else "") for word, *rest in parsed[stages[-1] :]]


def last(name: str) -> str:
    values = [args for word, args in instructions() if word == name]
    assert values, f"the server Dockerfile's final stage has no {name}"
    return values[-1]


def test_it_runs_as_a_numeric_non_root_user() -> None:
    user = last("USER").split(":")
    assert all(part.isdigit() for part in user), "USER must be numeric for runAsNonRoot"
    assert int(user[0]) != 0


def test_it_installs_the_server_extras_that_exist() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    installed = re.search(r"\[([\w,-]+)\]", DOCKERFILE.read_text())
    assert installed and set(installed.group(1).split(",")) == {"server", "tf-gpu"}
    assert {"server", "tf-gpu"} <= set(extras)


@pytest.mark.parametrize("command", ["serve", "pull"])
def test_the_commands_pods_run_exist_in_the_cli(command: str) -> None:
    assert json.loads(last("ENTRYPOINT")) == ["modelship"]
    assert json.loads(last("CMD"))[0] == "serve"
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
