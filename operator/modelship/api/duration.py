"""Durations as written in a ModelDeployment: "30s", "5m", "1h30m", "250ms".

The syntax is the one Kubernetes users know from Go (a sequence of decimal numbers, each
with a unit), restricted to the units that make sense here (ms, s, m, h) and to positive
values, so the API server's CEL `duration()` and this parser accept the same strings.
"""

from __future__ import annotations

import math
import re
from typing import Final

DURATION_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_WHOLE = re.compile(DURATION_PATTERN)
_SECONDS_PER_UNIT: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Return the number of seconds in a duration string such as "1h30m" (5400.0).

    Raises ValueError naming the text and the expected form when it is not a duration.
    """
    if not isinstance(text, str):
        raise ValueError(
            f'{text!r} is not a duration: write a string with a unit, such as "30s" or "5m"'
        )
    if not _WHOLE.fullmatch(text):
        raise ValueError(
            f'"{text}" is not a duration: use numbers with units ms, s, m or h, '
            'such as "30s", "5m" or "1h30m"'
        )
    return sum(float(number) * _SECONDS_PER_UNIT[unit] for number, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """Write seconds as the shortest duration string that parses back to the same value,
    e.g. 5400.0 -> "1h30m", 0.25 -> "250ms"."""
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"{seconds!r} seconds cannot be written as a duration")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole_seconds, millis = divmod(millis, 1000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if whole_seconds:
        parts.append(f"{whole_seconds}s")
    if millis:
        parts.append(f"{millis}ms")
    return "".join(parts)
