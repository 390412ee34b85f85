"""Request capture's pure parts: which records are kept, what they hold (excluded inputs
never, masked ones as keyed hashes), the byte budget, the bounded queue, and batch keys."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json

import numpy as np
import pytest

from modelship.api.quantity import parse_bytes
from modelship.artifacts import parse_storage_uri
from modelship.artifacts.capture import batch_key, capture_prefix, decode_batch, encode_batch
from modelship.serving.capture import (
    DROP_BYTE_BUDGET,
    DROP_QUEUE_FULL,
    MASK_PREFIX,
    CaptureConfig,
    CaptureSampler,
    HourlyBudget,
    capture_record,
    mask_rows,
)
from modelship.serving.metrics import ServingMetrics

KEY = b"a-test-key"
WHEN = datetime.datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=datetime.UTC)
INPUTS = {
    "x": np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32),
    "email": np.array([b"ann@example.com", b"bob@example.com"], dtype=object),
    "ssn": np.array([b"123-45-6789", b"987-65-4321"], dtype=object),
}
OUTPUTS = {"y": np.array([[0.5], [0.25]], dtype=np.float32)}


def config(**overrides: object) -> CaptureConfig:
    values: dict[str, object] = {
        "storage_uri": "s3://captures/digits",
        "sample_rate": 1.0,
        "exclude": frozenset({"ssn"}),
        "mask": frozenset({"email"}),
        "mask_key": KEY,
    }
    values.update(overrides)
    return CaptureConfig(**values)  # type: ignore[arg-type]


def record(cfg: CaptureConfig) -> dict[str, object]:
    return capture_record(
        cfg, model="digits", version=3, signature="serving_default",
        inputs=INPUTS, outputs=OUTPUTS, when=WHEN,
    )  # fmt: skip


def test_a_record_holds_inputs_and_outputs_without_the_excluded_input() -> None:
    found = record(config())
    assert found["inputs"]["x"] == [[1.0, 2.0], [3.0, 4.0]]  # type: ignore[index]
    assert found["outputs"] == {"y": [[0.5], [0.25]]}
    assert "ssn" not in found["inputs"]  # type: ignore[operator]
    text = json.dumps(found)
    assert "123-45-6789" not in text and "987-65-4321" not in text
    assert (found["time"], found["version"]) == ("2026-12-06T01:02:03.456789Z", 3)


def test_a_masked_input_is_a_keyed_hash_per_row_and_the_value_never_shows() -> None:
    found = record(config())
    hashes = found["inputs"]["email"]  # type: ignore[index]
    expected = hmac.new(KEY, b"email\x00ann@example.com", hashlib.sha256).hexdigest()
    assert hashes[0] == MASK_PREFIX + expected
    assert hashes[0] != hashes[1]
    assert "example.com" not in json.dumps(found)
    assert found["masked"] == ["email"]


def test_equal_values_hash_equal_and_another_key_hashes_differently() -> None:
    rows = np.array([b"same", b"same"], dtype=object)
    first = mask_rows(KEY, "email", rows)
    assert first[0] == first[1]
    assert mask_rows(b"other", "email", rows) != first
    assert mask_rows(KEY, "name", rows) != first  # the input's name is hashed in


def test_outputs_are_excluded_and_masked_by_name_too() -> None:
    found = capture_record(
        config(exclude=frozenset({"y"}), mask=frozenset({"greeting"})), model="m", version=1,
        signature="s", inputs={}, when=WHEN,
        outputs={"y": OUTPUTS["y"], "greeting": np.array([b"hello ann"], dtype=object)},
    )  # fmt: skip
    assert list(found["outputs"]) == ["greeting"]
    assert found["outputs"]["greeting"][0].startswith(MASK_PREFIX)
    assert found["masked"] == ["greeting"]


def test_numeric_rows_are_masked_per_row() -> None:
    hashes = mask_rows(KEY, "x", INPUTS["x"])
    assert len(hashes) == 2 and hashes[0] != hashes[1]


def test_the_mask_key_never_shows_in_the_config_repr() -> None:
    assert "a-test-key" not in repr(config())


def test_non_utf8_strings_are_captured_as_base64() -> None:
    found = capture_record(
        config(exclude=frozenset(), mask=frozenset()), model="m", version=1, signature="s",
        inputs={"raw": np.array([b"\xff\x00"], dtype=object)}, outputs={}, when=WHEN,
    )  # fmt: skip
    assert found["inputs"] == {"raw": [{"b64": "/wA="}]}


def test_the_hourly_budget_refuses_what_does_not_fit_and_starts_again_next_hour() -> None:
    now = [10.0]
    budget = HourlyBudget(100, lambda: now[0])
    assert budget.spend(60) and budget.spend(40)
    assert not budget.spend(1)
    now[0] = 3600.0
    assert budget.spend(100)
    assert HourlyBudget(None, lambda: 0.0).spend(10**12)


def _sampler(cfg: CaptureConfig, chances: list[float] | None = None) -> CaptureSampler:
    values = iter(chances or [0.0] * 100)
    return CaptureSampler(
        cfg, "digits", ServingMetrics("digits"), clock=lambda: 0.0,
        wall_clock=lambda: WHEN, chance=lambda: next(values),
    )  # fmt: skip


def _dropped(sampler: CaptureSampler, reason: str) -> float:
    return sampler.metrics.capture_dropped.labels("digits", "3", reason)._value.get()


def test_the_sampler_keeps_requests_at_the_sample_rate() -> None:
    sampler = _sampler(config(sample_rate=0.25), [0.1, 0.3, 0.24, 0.9])
    for _ in range(4):
        sampler.offer(3, "serving_default", INPUTS, OUTPUTS)
    assert sampler.queue.qsize() == 2


def test_a_full_queue_drops_and_counts_without_waiting() -> None:
    sampler = _sampler(config(queue_size=2))
    for _ in range(5):
        sampler.offer(3, "serving_default", INPUTS, OUTPUTS)
    assert sampler.queue.qsize() == 2
    assert _dropped(sampler, DROP_QUEUE_FULL) == 3


def test_a_spent_byte_budget_drops_and_counts() -> None:
    size = len(json.dumps(record(config()), separators=(",", ":"))) + 1
    sampler = _sampler(config(max_bytes_per_hour=size * 2))
    for _ in range(3):
        sampler.offer(3, "serving_default", INPUTS, OUTPUTS)
    assert sampler.queue.qsize() == 2
    assert _dropped(sampler, DROP_BYTE_BUDGET) == 1


def test_what_is_queued_never_holds_an_excluded_or_masked_value() -> None:
    sampler = _sampler(config())
    sampler.offer(3, "serving_default", INPUTS, OUTPUTS)
    _, line = sampler.queue.get_nowait()
    assert b"123-45-6789" not in line and b"example.com" not in line


def test_batches_are_keyed_by_model_version_date_and_pod() -> None:
    uri = parse_storage_uri("s3://captures/prod/")
    key = batch_key(uri, "digits", 3, WHEN, "digits-serving-7f/x", 12)
    assert key == (
        "prod/digits/3/2026-12-06/20261206T010203456789Z-digits-serving-7f_x-000012.jsonl.gz"
    )
    assert key.startswith(capture_prefix(uri, "digits", 3))
    assert capture_prefix(parse_storage_uri("s3://captures"), "digits") == "digits/"


def test_a_batch_round_trips_through_gzip_json_lines() -> None:
    records = [{"a": 1}, {"b": [1.5, "x"]}]
    body = encode_batch([json.dumps(r).encode() for r in records])
    assert body[:2] == b"\x1f\x8b"
    assert list(decode_batch(body)) == records


@pytest.mark.parametrize(
    ("text", "size"), [("100Mi", 100 * 2**20), ("1G", 10**9), ("512", 512), ("1.5Ki", 1536)]
)
def test_sizes_parse_as_quantities(text: str, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["", "Mi", "-1", "0", "1ki", "1 Mi", "1.5.2"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_the_sampler_queue_works_on_a_running_loop() -> None:
    async def run() -> int:
        sampler = _sampler(config())
        sampler.offer(3, "serving_default", INPUTS, OUTPUTS)
        version, _ = await sampler.queue.get()
        return version

    assert asyncio.run(run()) == 3
