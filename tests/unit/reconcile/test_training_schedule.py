"""When a training run starts (with an injected clock), and the version number it gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from modelship.reconcile.schedule import (
    next_cron_time,
    next_version_number,
    should_start_training,
    training_spec_hash,
)
from tests.unit.reconcile.builders import version
from tests.unit.training.builders import TrainedModelBuilder, trained

CREATED = datetime(2025, 5, 1, 0, 0, tzinfo=UTC)
NIGHTLY = "0 3 * * *"


def decide(
    md: TrainedModelBuilder,
    versions: list[Any],
    last_run: dict[str, Any] | None = None,
    *,
    now: datetime,
    running: tuple[str, ...] = (),
) -> Any:
    return should_start_training(
        md.spec(), versions, last_run, running_jobs=running, created=CREATED, now=now
    )


def last_run(
    md: TrainedModelBuilder, state: str, started: datetime, **extra: Any
) -> dict[str, Any]:
    training = md.spec().training
    assert training is not None
    return {
        "jobName": "digits-train-1",
        "version": 1,
        "state": state,
        "startTime": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "specHash": training_spec_hash(training),
        **extra,
    }


def test_a_new_model_without_versions_trains() -> None:
    decision = decide(trained(), [], now=CREATED)
    assert (decision.start, decision.reason) == (True, "NoVersion")
    assert "s3://models/digits" in decision.message
    training = trained().spec().training
    assert training is not None and decision.spec_hash == training_spec_hash(training)


def test_only_incomplete_or_corrupt_versions_count_as_none() -> None:
    versions = [version(1, "incomplete"), version(2, "corrupt", reason="ChecksumMismatch")]
    assert decide(trained(), versions, now=CREATED).start


def test_an_existing_version_is_not_retrained_without_a_reason() -> None:
    decision = decide(trained(), [version(1)], now=CREATED + timedelta(days=30))
    assert (decision.start, decision.reason) == (False, "UpToDate")
    assert decision.next_run is None


def test_nothing_to_decide_without_training() -> None:
    decision = decide(trained().untrained(), [], now=CREATED)
    assert (decision.start, decision.reason, decision.spec_hash) == (
        False,
        "TrainingNotConfigured",
        None,
    )


@pytest.mark.parametrize(
    "md",
    [trained(), trained().schedule("* * * * *"), trained().image("registry.local/t:2")],
    ids=["no-version", "cron-due", "spec-changed"],
)
def test_never_while_a_training_job_runs(md: TrainedModelBuilder) -> None:
    previous = last_run(trained(), "Running", CREATED)
    decision = decide(
        md, [], previous, now=CREATED + timedelta(days=1), running=("digits-train-1",)
    )
    assert (decision.start, decision.reason) == (False, "TrainingRunning")
    assert "digits-train-1" in decision.message


def test_a_changed_training_spec_trains_again() -> None:
    previous = last_run(trained(), "Succeeded", CREATED)
    changed = trained().data("s3://datasets/digits-2025-06")
    decision = decide(changed, [version(1)], previous, now=CREATED + timedelta(hours=1))
    assert (decision.start, decision.reason) == (True, "TrainingSpecChanged")
    assert decision.spec_hash != previous["specHash"]


def test_changes_that_do_not_change_the_model_do_not_retrain() -> None:
    base = trained().gate("accuracy", 0.9)
    previous = last_run(base, "Succeeded", CREATED)
    for md in (
        trained().gate("accuracy", 0.95),
        trained().backoff_limit(5),
        trained().deadline("2h"),
    ):
        decision = decide(md, [version(1)], previous, now=CREATED + timedelta(hours=1))
        assert (decision.start, decision.reason) == (False, "UpToDate")


@pytest.mark.parametrize(
    ("started", "now", "due", "next_run"),
    [
        # last run at 03:00 on May 1st: the next is due at 03:00 on May 2nd
        (
            datetime(2025, 5, 1, 3, 0, 12, tzinfo=UTC),
            datetime(2025, 5, 2, 2, 59, tzinfo=UTC),
            False,
            datetime(2025, 5, 2, 3, 0, tzinfo=UTC),
        ),
        (
            datetime(2025, 5, 1, 3, 0, 12, tzinfo=UTC),
            datetime(2025, 5, 2, 3, 0, tzinfo=UTC),
            True,
            None,
        ),
        # missed runs (the operator was down for days) are made up once
        (
            datetime(2025, 5, 1, 3, 0, 12, tzinfo=UTC),
            datetime(2025, 5, 9, 17, 0, tzinfo=UTC),
            True,
            None,
        ),
        # the run just started this minute is not run again
        (
            datetime(2025, 5, 1, 3, 0, 12, tzinfo=UTC),
            datetime(2025, 5, 1, 3, 0, 40, tzinfo=UTC),
            False,
            datetime(2025, 5, 2, 3, 0, tzinfo=UTC),
        ),
    ],
    ids=["not-due", "due", "overdue", "same-minute"],
)
def test_the_cron_schedule(
    started: datetime, now: datetime, due: bool, next_run: datetime | None
) -> None:
    md = trained().schedule(NIGHTLY)
    decision = decide(md, [version(1)], last_run(md, "Succeeded", started), now=now)
    assert decision.start is due
    assert decision.reason == ("Scheduled" if due else "ScheduleNotDue")
    assert decision.next_run == next_run
    if not due:
        assert "2025-05-02T03:00:00Z" in decision.message


def test_the_first_scheduled_run_counts_from_creation() -> None:
    md = trained().schedule(NIGHTLY)
    early = decide(md, [version(1)], None, now=datetime(2025, 5, 1, 2, 0, tzinfo=UTC))
    assert (early.start, early.next_run) == (False, datetime(2025, 5, 1, 3, 0, tzinfo=UTC))
    due = decide(md, [version(1)], None, now=datetime(2025, 5, 1, 3, 1, tzinfo=UTC))
    assert (due.start, due.reason) == (True, "Scheduled")


def test_a_failed_run_is_not_retried_in_a_loop() -> None:
    md = trained()
    failed = last_run(md, "Failed", CREATED, reason="EntrypointNotFound", message="no module")
    decision = decide(md, [], failed, now=CREATED + timedelta(hours=2))
    assert (decision.start, decision.reason) == (False, "LastRunFailed")
    assert "EntrypointNotFound: no module" in decision.message
    fixed = decide(trained().image("registry.local/t:fixed"), [], failed, now=CREATED)
    assert (fixed.start, fixed.reason) == (True, "NoVersion")


def test_a_failed_run_waits_for_its_schedule() -> None:
    md = trained().schedule(NIGHTLY)
    failed = last_run(md, "Failed", datetime(2025, 5, 1, 3, 0, tzinfo=UTC))
    waiting = decide(md, [], failed, now=datetime(2025, 5, 1, 12, 0, tzinfo=UTC))
    assert (waiting.start, waiting.reason) == (False, "LastRunFailed")
    assert waiting.next_run == datetime(2025, 5, 2, 3, 0, tzinfo=UTC)
    assert "2025-05-02T03:00:00Z" in waiting.message
    retry = decide(md, [], failed, now=datetime(2025, 5, 2, 3, 0, tzinfo=UTC))
    assert (retry.start, retry.reason) == (True, "Scheduled")


def test_spec_hash_is_stable_and_sensitive() -> None:
    first = trained().args("--epochs", "3").spec().training
    again = trained().args("--epochs", "3").spec().training
    other = trained().args("--epochs", "4").spec().training
    assert first is not None and again is not None and other is not None
    assert training_spec_hash(first) == training_spec_hash(again)
    assert training_spec_hash(first) != training_spec_hash(other)


def test_env_changes_the_spec_hash_only_when_set() -> None:
    plain = trained().spec().training
    empty = trained().env().spec().training
    token = trained().env({"name": "DATASET", "value": "v2"}).spec().training
    other = trained().env({"name": "DATASET", "value": "v3"}).spec().training
    assert plain is not None and empty is not None and token is not None and other is not None
    # An empty env hashes as before env existed: upgrading the operator starts no run.
    assert training_spec_hash(empty) == training_spec_hash(plain)
    assert (
        len({training_spec_hash(plain), training_spec_hash(token), training_spec_hash(other)}) == 3
    )


@pytest.mark.parametrize(
    ("versions", "last_trained", "expected"),
    [
        ([], None, 1),
        ([version(1), version(2)], None, 3),
        ([version(1), version(5, "incomplete")], None, 6),  # never reuse an unfinished upload
        ([version(1), version(3, "corrupt", reason="SizeMismatch")], None, 4),
        ([version(1)], 4, 5),  # the last run failed before uploading: its Job holds 4
        ([version(7)], 4, 8),
    ],
)
def test_next_version_number(versions: list[Any], last_trained: int | None, expected: int) -> None:
    assert next_version_number(versions, last_trained=last_trained) == expected


def test_next_cron_time_is_utc_and_strictly_later() -> None:
    local = datetime(2025, 5, 1, 5, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert next_cron_time(NIGHTLY, local) == datetime(2025, 5, 2, 3, 0, tzinfo=UTC)
    assert next_cron_time("0 0 30 2 *", CREATED) is None
