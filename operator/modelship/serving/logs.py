"""The server's log lines: text for a person at a terminal, or one JSON object per line for a
log shipper (--log-format json), and access logs that are off unless asked for and then
sampled, so a busy server does not spend its CPU writing a line per request."""

from __future__ import annotations

import datetime
import json
import logging
import random
import sys
from typing import Any, Final

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER: Final = "modelship.access"
# LogRecord attributes every record has; anything else came in `extra=` and is kept.
_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: timestamp (RFC 3339, UTC), severity, logger, message,
    the `extra=` fields, and the traceback (as `exception`) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "timestamp": datetime.datetime.fromtimestamp(record.created, datetime.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "severity": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure(level: str, log_format: str) -> None:
    """Log to stderr at `level` ("info"...), as text or JSON."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class AccessLog:
    """Writes one line per model request for a sample of them (`rate` 0: none, 1: all)."""

    def __init__(self, rate: float, pick: Any = random.random) -> None:
        self.rate = rate
        self._pick = pick
        self._log = logging.getLogger(ACCESS_LOGGER)

    def record(
        self, protocol: str, method: str, target: str, code: int | str, seconds: float
    ) -> None:
        if self.rate <= 0 or (self.rate < 1 and self._pick() >= self.rate):
            return
        self._log.info(
            "%s %s %s %s %.2fms",
            protocol,
            method,
            target,
            code,
            seconds * 1000,
            extra={
                "protocol": protocol,
                "method": method,
                "target": target,
                "code": code,
                "duration_ms": round(seconds * 1000, 3),
            },
        )
