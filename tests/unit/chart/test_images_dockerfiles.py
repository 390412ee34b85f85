"""Every image runs a `modelship` subcommand that exists, as a non-root numeric user, from a
pinned base; the operator image carries no TensorFlow; the build context leaves local state out."""

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
        """What a container of this image runs when the pod names no command or args."""
        return self.entrypoint + self.cmd


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


@pytest.mark.parametrize("image", IMAGES)
def test_base_image_has_an_exact_version(image: str) -> None:
    base = final_stage(dockerfile(image)).base
    assert "$" not in base, f"unresolved base image {base}"
    tag = base.partition("@")[0].rpartition(":")[2]
    assert re.search(r"\d+\.\d+\.\d+", tag), f"{base} has no exact version tag"


def test_all_images_share_one_base_pinned_by_digest() -> None:
    bases = {image: final_stage(dockerfile(image)).base for image in IMAGES}
    assert len(set(bases.values())) == 1, bases
    (base,) = set(bases.values())
    assert "slim" in base and re.search(r"@sha256:[0-9a-f]{64}$", base), base
    for image in IMAGES:
        # The build stage too: what is copied into the final stage was built on the same base.
        froms = [
            rest
            for keyword, rest in instructions(dockerfile(image).read_text())
            if keyword == "FROM"
        ]
        assert all(f.split()[0] in ("${BASE}", "$BASE") for f in froms), (image, froms)


@pytest.mark.parametrize(
    ("image", "uid"),
    [("server", RUN_AS_USER), ("trainer", RUN_AS_USER), ("operator", CHART_OPERATOR_UID)],
)
def test_each_image_runs_as_the_user_its_pods_declare(image: str, uid: int) -> None:
    # The pods' runAsUser wins anyway; the same number in the image means a file the image
    # prepared for its user is readable in the pod too.
    assert final_stage(dockerfile(image)).user == f"{uid}:{uid}"


def test_operator_image_is_the_slim_core_without_tensorflow() -> None:
    stage = final_stage(dockerfile("operator"))
    assert stage.command == ["modelship", "run"]
    assert "slim" in stage.base
    assert re.search(r"@sha256:[0-9a-f]{64}$", stage.base), f"{stage.base} has no digest"
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


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    entries = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".git", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", "bench/results"):
        assert needed in entries, needed
