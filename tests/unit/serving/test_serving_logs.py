"""Log lines a shipper can parse, and access logs that are sampled."""

from __future__ import annotations

import json
import logging

import pytest

from modelship.serving.logs import ACCESS_LOGGER, AccessLog, JsonFormatter


def test_json_lines_carry_severity_message_extras_and_the_traceback() -> None:
    record = logging.LogRecord("modelship.serve", logging.ERROR, "f.py", 1, "boom %d", (7,), None)
    record.code = "INVALID_ARGUMENT"
    try:
        raise ValueError("inner")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["severity"] == "error" and line["logger"] == "modelship.serve"
    assert line["message"] == "boom 7" and line["code"] == "INVALID_ARGUMENT"
    assert line["timestamp"].endswith("Z") and "ValueError: inner" in line["exception"]


def test_access_logs_are_off_by_default_and_sampled_when_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    AccessLog(0.0).record("rest", "POST", "/v1/models/m:predict", 200, 0.001)
    assert caplog.records == []
    picks = iter([0.05, 0.5, 0.09])
    sampled = AccessLog(0.1, pick=lambda: next(picks))
    for _ in range(3):
        sampled.record("grpc", "POST", "/inference.GRPCInferenceService/ModelInfer", "OK", 0.002)
    assert [r.getMessage() for r in caplog.records] == [
        "grpc POST /inference.GRPCInferenceService/ModelInfer OK 2.00ms"
    ] * 2
    assert caplog.records[0].duration_ms == 2.0  # type: ignore[attr-defined]
