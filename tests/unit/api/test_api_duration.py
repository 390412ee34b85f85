"""Durations as users write them in a ModelDeployment ("30s", "1h30m")."""

from __future__ import annotations

import pytest

from modelship.api import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        ("2m30s", 150.0),
        ("1h0m0s", 3600.0),
        ("0s", 0.0),
        ("168h", 604800.0),
    ],
)
def test_parse_duration_reads_go_style_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "30", "30x", "-5s", "5 s", "1d", "s", "1h 30m", "1.s", ".5s", "30S"]
)
def test_parse_duration_refuses_anything_else_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration") as caught:
        parse_duration(text)
    assert f'"{text}"' in str(caught.value)
    assert '"30s"' in str(caught.value)  # says what to write instead


def test_parse_duration_refuses_a_number_without_unit() -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(30)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30.0, "30s"),
        (600.0, "10m"),
        (5400.0, "1h30m"),
        (0.25, "250ms"),
        (0.0, "0s"),
        (90061.5, "25h1m1s500ms"),
    ],
)
def test_format_duration_writes_the_shortest_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


def test_format_duration_refuses_negative_seconds() -> None:
    with pytest.raises(ValueError):
        format_duration(-1.0)
