"""The trainer image runs `modelship train` as a non-root user, on top of the server image."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from modelship.cli import COMMANDS, main
from modelship.dev import images
from modelship.reconcile.podsecurity import RUN_AS_USER

DOCKERFILE = Path(__file__).resolve().parents[3] / "images" / "trainer" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per line, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_entrypoint_is_the_train_subcommand() -> None:
    (entrypoint,) = [args for keyword, args in instructions() if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["/usr/bin/tini", "--", "modelship", "train"]
    assert "train" in COMMANDS
    result = CliRunner().invoke(main, ["train", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--entrypoint", "--output", "--version", "--data", "--metrics-out"):
        assert option in result.output


def test_it_runs_as_a_numeric_non_root_user() -> None:
    users = [args for keyword, args in instructions() if keyword == "USER"]
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)
    assert int(uid) == RUN_AS_USER  # the user the operator's pods run as


def test_it_builds_on_the_server_image_and_adds_the_training_extra() -> None:
    steps = instructions()
    # The server image: the same base and the same TensorFlow build, so the layers are shared.
    (server,) = [args.split("=", 1)[1] for keyword, args in steps if keyword == "ARG"]
    assert re.fullmatch(r"ghcr\.io/modelship/server:\d+\.\d+\.\d+", server)
    assert [args for keyword, args in steps if keyword == "FROM"] == ["${SERVER}"]
    assert any("requirements-trainer.txt" in args for keyword, args in steps if keyword == "RUN")
    assert images._requirements(("train",), False) == ["numpy>=1.26", "scikit-learn>=1.3"]


def test_usage_errors_exit_2_with_the_problem_named() -> None:
    result = CliRunner().invoke(
        main, ["train", "--entrypoint", "m:f", "--output", "s3://b/m", "--version", "0"]
    )
    assert result.exit_code == 2
    assert "--version" in result.output
