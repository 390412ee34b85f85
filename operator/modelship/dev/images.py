"""The container images, built from Debian packages and PyPI only: one recipe for the test bed
and for releases (`make images`).

No registry is reachable from the machines that build them, so nothing starts `FROM` a registry
image: a bookworm root filesystem is made with debootstrap (python3, ca-certificates, tini),
imported into a private Docker engine (modelship.dev.docker) as the base, and the Dockerfiles
in images/ build on it. The base and the engine's layers are cached under the cache folder, so a
second build only redoes what changed (usually the modelship wheel, the last layer).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from modelship.dev.binaries import TestbedError, cache_dir
from modelship.dev.docker import DockerEngine

REGISTRY = "ghcr.io/modelship"
KINDS = ("operator", "server", "trainer")
PAUSE_IMAGE = "modelship.local/pause:3.10"
# The digits example's training image (examples/digits/Dockerfile), for the sandbox.
DIGITS_TRAINER_IMAGE = "modelship.local/digits-trainer:dev"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("MODELSHIP_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What every image needs from Debian; the Python packages come from PyPI into a venv.
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "tini")
# Changing the recipe below changes the base's tag, so a stale cached base is never reused.
BASE_RECIPE_VERSION = "1"


def repo_root() -> Path:
    """The checkout the images are built from (images/ and pyproject.toml live there)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "images").is_dir() and (parent / "pyproject.toml").exists():
            return parent
    raise TestbedError("the images are built from a modelship checkout; none was found")


def app_version() -> str:
    """The chart's appVersion: the images' tag, so the chart's defaults name them."""
    chart = yaml.safe_load((repo_root() / "charts" / "modelship" / "Chart.yaml").read_text())
    return str(chart["appVersion"])


def image_ref(kind: str, version: str | None = None) -> str:
    return f"{REGISTRY}/{kind}:{version or app_version()}"


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    image_id: str
    size_bytes: int
    build_seconds: float


def images_dir() -> Path:
    return cache_dir() / "images"


def base_tag() -> str:
    key = hashlib.sha256(
        f"{BASE_RECIPE_VERSION}|{DEBIAN_SUITE}|{DEBIAN_MIRROR}|{','.join(BASE_PACKAGES)}".encode()
    ).hexdigest()[:12]
    return f"modelship/base:{DEBIAN_SUITE}-{key}"


def base_rootfs_tarball() -> Path:
    """The base's root filesystem, made once with debootstrap and kept as a tarball."""
    tarball = images_dir() / f"{base_tag().split(':')[1]}.tar"
    if tarball.exists():
        return tarball
    if shutil.which("debootstrap") is None:
        raise TestbedError(
            "debootstrap is missing: the base image is made from Debian's packages "
            "(apt-get install debootstrap)"
        )
    images_dir().mkdir(parents=True, exist_ok=True)
    root = images_dir() / "rootfs.partial"
    shutil.rmtree(root, ignore_errors=True)
    result = subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            DEBIAN_SUITE,
            str(root),
            DEBIAN_MIRROR,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise TestbedError(
            f"debootstrap of Debian {DEBIAN_SUITE} failed (exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    # What a container never needs: package lists, caches, documentation, logs.
    for leftover in (
        "var/lib/apt/lists",
        "usr/share/i18n",
        "var/cache/apt",
        "var/cache/debconf",
        "var/log",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
    ):
        path = root / leftover
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir()
    partial = tarball.with_suffix(".tar.partial")
    subprocess.run(
        ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True
    )
    partial.rename(tarball)
    shutil.rmtree(root, ignore_errors=True)
    return tarball


def ensure_base(engine: DockerEngine) -> str:
    """The base image's tag in our engine, imported from the cached root filesystem."""
    tag = base_tag()
    if engine.docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    tarball = base_rootfs_tarball()
    engine.docker(
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        'CMD ["python3"]',
        str(tarball),
        tag,
    )
    return tag


def _requirements(extras: tuple[str, ...], core: bool) -> list[str]:
    project = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"]
    found: list[str] = list(project["dependencies"]) if core else []
    for extra in extras:
        found += project["optional-dependencies"][extra]
    return found


def _constraints() -> str:
    """The versions this Python environment runs (the tests' versions), minus modelship."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return "\n".join(
        line
        for line in frozen
        if "==" in line and not line.lower().startswith(("modelship==", "-e "))
    )


def prepare_context(context: Path) -> None:
    """The build context every Dockerfile in images/ expects (see images/operator/Dockerfile)."""
    root = repo_root()
    shutil.rmtree(context, ignore_errors=True)
    build = context / "build"
    (build / "dist").mkdir(parents=True)
    shutil.copytree(root / "images", context / "images")
    shutil.copytree(
        root / "examples" / "digits",
        context / "examples" / "digits",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    ca = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))
    shutil.copyfile(ca, build / "ca.crt")
    (build / "constraints.txt").write_text(_constraints() + "\n")
    (build / "requirements-operator.txt").write_text("\n".join(_requirements((), True)) + "\n")
    (build / "requirements-server.txt").write_text(
        "\n".join(_requirements(("server",), True)) + "\n"
    )
    (build / "requirements-trainer.txt").write_text("\n".join(_requirements(("train",), False)))
    # Built from a copy of the sources, so no build/ or egg-info lands in the checkout.
    source = context / "source"
    source.mkdir()
    shutil.copy(root / "pyproject.toml", source)
    shutil.copy(root / "README.md", source)
    shutil.copytree(
        root / "operator",
        source / "operator",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(build / "dist"),
            ".",
        ],
        cwd=source,
        check=True,
        env={**os.environ, "PIP_NO_BUILD_ISOLATION": "0"},
    )
    shutil.rmtree(source)
    go = shutil.which("go")
    if go is None:
        raise TestbedError("Go is needed for the test bed's pause image (images/pause/main.go)")
    subprocess.run(
        [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(build / "pause"), "main.go"],
        cwd=context / "images" / "pause",
        env={**os.environ, "CGO_ENABLED": "0", "GO111MODULE": "off"},
        check=True,
    )


def _build(
    engine: DockerEngine, context: Path, dockerfile: str, ref: str, *build_args: str
) -> BuiltImage:
    started = time.monotonic()
    args = [f"--build-arg={a}" for a in build_args]
    engine.docker(
        "build", "--network=host", "-f", str(context / dockerfile), "-t", ref, *args, str(context)
    )
    seconds = time.monotonic() - started
    inspected = json.loads(engine.docker("image", "inspect", ref).stdout)[0]
    return BuiltImage(ref, inspected["Id"], int(inspected["Size"]), round(seconds, 1))


def build_images(
    version: str | None = None,
    tensorflow: str = "tensorflow-cpu",
    engine: DockerEngine | None = None,
) -> dict[str, BuiltImage]:
    """Builds pause, operator, server and trainer; returns what was built, by kind."""
    engine = engine or DockerEngine()
    engine.start()
    base = ensure_base(engine)
    context = images_dir() / "context"
    prepare_context(context)
    built = {
        "pause": _build(engine, context, "images/pause/Dockerfile", PAUSE_IMAGE),
        "operator": _build(
            engine,
            context,
            "images/operator/Dockerfile",
            image_ref("operator", version),
            f"BASE={base}",
        ),
        "server": _build(
            engine,
            context,
            "images/server/Dockerfile",
            image_ref("server", version),
            f"BASE={base}",
            f"TENSORFLOW={tensorflow}",
        ),
    }
    built["trainer"] = _build(
        engine,
        context,
        "images/trainer/Dockerfile",
        image_ref("trainer", version),
        f"SERVER={built['server'].ref}",
    )
    built["digits-trainer"] = _build(
        engine,
        context,
        "examples/digits/Dockerfile",
        DIGITS_TRAINER_IMAGE,
        f"TRAINER={built['trainer'].ref}",
    )
    record = images_dir() / "built.json"
    record.write_text(json.dumps({k: asdict(v) for k, v in built.items()}, indent=2))
    return built


def save_images(refs: list[str], tarball: Path, engine: DockerEngine | None = None) -> Path:
    """Writes the images to one docker-archive tarball (shared layers once), for containerd."""
    engine = engine or DockerEngine()
    engine.start()
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial")
    engine.docker("save", "-o", str(partial), *refs)
    partial.rename(tarball)
    return tarball


def node_images() -> list[str]:
    """Every image the real node needs: the pause image, the three of ours, the example's."""
    return [PAUSE_IMAGE, *(image_ref(kind) for kind in KINDS), DIGITS_TRAINER_IMAGE]


def ensure_images_tarball() -> Path:
    """Builds the images (cached layers make an unchanged build quick) and returns a tarball of
    them for the real node's containerd, rewritten only when an image changed."""
    engine = DockerEngine()
    built = build_images(engine=engine)
    tarball = images_dir() / "node-images.tar"
    stamp = tarball.with_suffix(".json")
    ids = {image.ref: image.image_id for image in built.values()}
    if not tarball.exists() or not stamp.exists() or json.loads(stamp.read_text()) != ids:
        save_images(node_images(), tarball, engine)
        stamp.write_text(json.dumps(ids, indent=2))
    engine.stop()
    return tarball
