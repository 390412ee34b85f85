"""What the status says when the API server refuses an object the operator must own (a
Service when the Service IP range is full, anything beyond a ResourceQuota, a Deployment an
admission webhook denies): Stalled, in the API server's own words, instead of no status at all.
The operator keeps retrying with backoff, so the status clears by itself once a person fixed
the cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from modelship.api.reasons import (
    OBJECT_REFUSED,
)
from modelship.api.status import (
    FALSE,
    READY,
    RECONCILING,
    STALLED,
    TRUE,
    Condition,
    set_condition,
)


def refused_object_patch(
    status: Mapping[str, Any],
    kind: str,
    name: str,
    api_says: str,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """The status patch (empty when the status already says so) for a refused object."""
    message = (
        f"the API server refused the {kind} {name}: {api_says.rstrip('. ')}. Fix what it "
        "names (for example a ResourceQuota, the Service IP range or an admission policy); "
        "the operator keeps trying."
    )
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = list(status.get("conditions") or [])
    for type_, value in ((READY, FALSE), (STALLED, TRUE), (RECONCILING, FALSE)):
        conditions = set_condition(
            conditions,
            Condition(type_, value, OBJECT_REFUSED, message, observed_generation=generation),
            stamp,
        )
    if conditions == list(status.get("conditions") or []):
        return {}
    return {"conditions": conditions}
