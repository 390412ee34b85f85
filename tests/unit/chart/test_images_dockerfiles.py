"""Every image runs a `modelship` subcommand that exists under tini, as a non-root numeric user,
built on the locally made Debian base (never a registry image); the operator image carries no
TensorFlow. (tests/e2e/test_images.py checks the images built from these files.)"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelship.cli import COMMANDS
from modelship.reconcile.podsecurity import RUN_AS_USER
from tests.unit.chart.helm import REPO

# The operator pod's runAsUser in charts/modelship/templates/deployment.yaml.
CHART_OPERATOR_UID = int(
    re.search(
        r"runAsUser: (\d+)", (REPO / "charts/modelship/templates/deployment.yaml").read_text()
    ).group(1)  # type: ignore[union-attr]
)

IMAGES = ("operator", "server", "trainer")


@dataclass(frozen=True)
class FinalStage:
    """What the last stage of a Dockerfile runs and as whom."""

    base: str
    user: str | None
    entrypoint: list[str]
    cmd: list[str]
    text: str

    @property
    def command(self) -> list[str]:
        """What a container of this image runs when the pod names no command or args, after
        tini (PID 1, which forwards signals and reaps children)."""
        command = self.entrypoint + self.cmd
        assert command[:2] == ["/usr/bin/tini", "--"], f"not started by tini: {command}"
        return command[2:]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage(path: Path) -> FinalStage:
    text = path.read_text()
    pairs = instructions(text)
    args = {}
    for keyword, rest in pairs:
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    last_from = max(i for i, (keyword, _) in enumerate(pairs) if keyword == "FROM")
    base = pairs[last_from][1].split()[0]
    base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), base)
    user = None
    entrypoint: list[str] = []
    cmd: list[str] = []
    for keyword, rest in pairs[last_from:]:
        if keyword == "USER":
            user = rest
        elif keyword == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif keyword == "CMD":
            cmd = json.loads(rest)
    return FinalStage(base=base, user=user, entrypoint=entrypoint, cmd=cmd, text=text)


def dockerfile(image: str) -> Path:
    path = REPO / "images" / image / "Dockerfile"
    if not path.exists():
        pytest.skip(f"images/{image}/Dockerfile is not written yet")
    return path


@pytest.mark.parametrize("image", IMAGES)
def test_entrypoint_is_an_existing_modelship_subcommand(image: str) -> None:
    command = final_stage(dockerfile(image)).command
    assert command[:1] == ["modelship"], command
    assert len(command) >= 2, "ENTRYPOINT and CMD name no modelship subcommand"
    subcommand = command[1]
    assert subcommand in COMMANDS, f"`modelship {subcommand}` does not exist"
    module = COMMANDS[subcommand][0]
    assert importlib.util.find_spec(module) is not None, f"{module} is missing"


@pytest.mark.parametrize("image", IMAGES)
def test_runs_as_a_numeric_non_root_user(image: str) -> None:
    user = final_stage(dockerfile(image)).user
    assert user is not None, "no USER: the image would run as root"
    uid, _, gid = user.partition(":")
    # Numeric, so the kubelet can check runAsNonRoot without the image's /etc/passwd.
    assert uid.isdigit() and int(uid) != 0, user
    assert not gid or (gid.isdigit() and int(gid) != 0), user


def test_no_image_starts_from_a_registry_image() -> None:
    # No registry is reachable where the images are built: every stage starts from the base
    # `modelship dev images` makes (BASE), from one of our own images, or from scratch.
    for image in (*IMAGES, "pause"):
        allowed = {"${BASE}", "$BASE", "${SERVER}", "scratch"}
        froms = [
            rest.split()
            for keyword, rest in instructions(dockerfile(image).read_text())
            if keyword == "FROM"
        ]
        assert froms, image
        for words in froms:
            assert words[0] in allowed, (image, words)
            if len(words) == 3 and words[1].upper() == "AS":
                allowed.add(words[2])  # a later stage may start from an earlier one


def test_the_trainer_shares_the_server_image_layers() -> None:
    assert final_stage(dockerfile("trainer")).base == "ghcr.io/modelship/server:0.1.0"


@pytest.mark.parametrize(
    ("image", "uid"),
    [("server", RUN_AS_USER), ("trainer", RUN_AS_USER), ("operator", CHART_OPERATOR_UID)],
)
def test_each_image_runs_as_the_user_its_pods_declare(image: str, uid: int) -> None:
    # The pods' runAsUser wins anyway; the same number in the image means a file the image
    # prepared for its user is readable in the pod too.
    assert final_stage(dockerfile(image)).user == f"{uid}:{uid}"


def test_operator_image_is_the_core_without_tensorflow() -> None:
    stage = final_stage(dockerfile("operator"))
    assert stage.command == ["modelship", "run"]
    installs = [
        step
        for keyword, rest in instructions(stage.text)
        if keyword == "RUN"
        for step in rest.split("&&")
        if "pip install" in step
    ]
    assert installs, "the operator image installs nothing"
    for step in installs:
        # No extras ([server], [train], [tf-cpu]...) and no TensorFlow by name.
        assert "tensorflow" not in step and "[" not in step, step
        assert "requirements-operator.txt" in step or "--no-deps" in step, step
