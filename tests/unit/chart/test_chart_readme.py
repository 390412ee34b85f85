"""The chart's README is generated from values.yaml and kept in step with it."""

from __future__ import annotations

from modelship.dev import chartdocs
from tests.unit.chart.helm import CHART


def test_the_chart_readme_is_generated_from_the_values() -> None:
    assert (CHART / "README.md").read_text() == chartdocs.readme(CHART), (
        "charts/modelship/README.md is stale: run `make chart-docs`"
    )


def test_every_value_is_listed_with_its_default_and_comment() -> None:
    rows = {
        key: (default, text)
        for key, default, text in chartdocs.value_rows(
            "# How many.\nreplicas: 2\nimage:\n"
            '  # Its tag.\n  tag: ""\n  pullPolicy: Never  # inline\n'
        )
    }
    assert rows == {
        "replicas": (2, "How many."),
        "image.tag": ("", "Its tag."),
        "image.pullPolicy": ("Never", "inline"),
    }
