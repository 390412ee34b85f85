"""Kubernetes quantities as byte counts ("100Mi", "1G", "512"), for the sizes a
ModelDeployment gives in bytes (spec.monitoring.capture.maxBytesPerHour)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

_SUFFIXES: Final = {
    "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
BYTES_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?)([kMGTPE]i?|Ki)?$"
_BYTES = re.compile(BYTES_PATTERN)


def parse_bytes(value: str | int) -> int:
    """Bytes in a quantity such as "100Mi" (104857600); ValueError when it is not one or is
    less than one byte."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        number = Decimal(value)
    else:
        match = _BYTES.fullmatch(value.strip())
        if match is None or match[3] == "ki":
            raise ValueError(f'"{value}" is not a size: write bytes, or a quantity such as "100Mi"')
        try:
            number = Decimal(match[1]) * _SUFFIXES[match[3] or ""]
        except (InvalidOperation, KeyError):
            raise ValueError(f'"{value}" is not a size') from None
    if number < 1:
        raise ValueError(f'"{value}" is less than one byte')
    return int(number)
