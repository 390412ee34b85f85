"""Timestamps as the Kubernetes API writes them (RFC 3339, UTC, whole seconds, a Z), in and
out: one reading and one writing for every status field, condition and Job time."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """UTC, second precision, with a Z. A naive moment is refused: every clock here is UTC."""
    if moment.tzinfo is None:
        raise ValueError("`now` must be timezone-aware (UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: object) -> datetime | None:
    """An API timestamp ("2026-12-06T12:00:00Z") as an aware datetime (UTC when it names no
    zone), or None when the value is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
