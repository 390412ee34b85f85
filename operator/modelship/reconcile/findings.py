"""What a named check found: a CamelCase reason a script can switch on and a sentence a
person can act on. These are the very words the status conditions and the Events show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One problem (or reason to wait) found by a check."""

    reason: str
    """CamelCase, e.g. "CrashLoopBackOff", "VersionNotFound"."""
    message: str
    """A sentence naming the object and what to do about it."""
    needs_person: bool = True
    """True: it stays until a person acts (Stalled). False: waiting or retrying may clear it
    (an outage of the store, a pod waiting for a GPU node the autoscaler is adding)."""
    version: int | None = None
    """The model version it is about, when it is about the pods of one version."""
