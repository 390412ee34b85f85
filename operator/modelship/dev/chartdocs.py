"""The chart's README, generated from its values.yaml: every value with its default and the
comment written above it, so the documentation cannot drift from the values.

    python -m modelship.dev.chartdocs charts/modelship > charts/modelship/README.md
    python -m modelship.dev.chartdocs --check charts/modelship   # exit 1 when stale
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")


def value_rows(text: str) -> list[tuple[str, Any, str]]:
    """(dotted key, default, description) for every key of values.yaml, in file order."""
    values = yaml.safe_load(text) or {}
    rows: list[tuple[str, Any, str]] = []
    path: list[tuple[int, str]] = []
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        match = _KEY.match(line)
        if not match or stripped.startswith("-"):
            comment = []
            continue
        indent = len(match["indent"])
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, match["key"]))
        keys = [k for _, k in path]
        default: Any = values
        for key in keys:
            default = default.get(key) if isinstance(default, dict) else None
        description = " ".join(c for c in comment if c)
        # A trailing comment on the same line describes the value too.
        if "#" in match["rest"]:
            description = (description + " " + match["rest"].split("#", 1)[1].strip()).strip()
        if not isinstance(default, dict) or not default or description:
            rows.append((".".join(keys), default, description))
        comment = []
    return rows


def readme(chart: Path) -> str:
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    lines = [
        f"# {meta['name']} chart",
        "",
        "<!-- Generated from values.yaml by `make chart-docs` (modelship.dev.chartdocs);"
        " edit values.yaml, not this file. -->",
        "",
        " ".join(str(meta.get("description", "")).split()),
        "",
        f"Chart version {meta['version']}, app version {meta['appVersion']}. How to install, "
        "upgrade and secure it: [docs/install.md](../../docs/install.md).",
        "",
        "```sh",
        "helm install modelship charts/modelship --namespace modelship-system --create-namespace",
        "```",
        "",
        "## Values",
        "",
        "| key | default | description |",
        "|---|---|---|",
    ]
    for key, default, description in value_rows((chart / "values.yaml").read_text()):
        shown = json.dumps(default) if default is not None else "null"
        cell, text = shown.replace("|", r"\|"), description.replace("|", r"\|")
        lines.append(f"| `{key}` | `{cell}` | {text} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    chart = Path(next(a for a in argv if a != "--check"))
    text = readme(chart)
    if check:
        current = (chart / "README.md").read_text() if (chart / "README.md").exists() else ""
        if current != text:
            print(f"{chart}/README.md is stale: run `make chart-docs`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
