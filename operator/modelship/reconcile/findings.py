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

    def __post_init__(self) -> None:
        # Words quoted from the API server, the scheduler or a container's termination
        # message often end in a space or a newline; status shows the sentence without them.
        object.__setattr__(self, "message", self.message.strip())


def sentence_start(message: str) -> str:
    """The message as the start of a new sentence: its first letter in upper case, unless its
    first word is not a plain word (a URI such as s3://models/x, a field path such as
    spec.model.version, an object name such as digits-serving), which keeps its case."""
    first_word = message.split(" ", 1)[0]
    if first_word.isalpha():
        return message[:1].upper() + message[1:]
    return message
