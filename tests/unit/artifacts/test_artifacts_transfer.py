"""How transfers are cut into requests, and hashing parts that arrive out of order."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

from modelship.artifacts.transfer import MiB, TransferTuning, _OrderedHasher, part_ranges

TUNING = TransferTuning(concurrency=4, part_size=8 * MiB, multipart_threshold=16 * MiB)


def test_small_objects_are_one_request() -> None:
    assert part_ranges(0, TUNING) == [(0, 0)]
    assert part_ranges(16 * MiB - 1, TUNING) == [(0, 16 * MiB - 1)]


def test_big_objects_are_split_into_parts_covering_every_byte() -> None:
    size = 16 * MiB + 5
    ranges = part_ranges(size, TUNING)
    assert ranges == [(0, 8 * MiB), (8 * MiB, 8 * MiB), (16 * MiB, 5)]


def test_huge_objects_stay_within_ten_thousand_parts() -> None:
    size = 200_000 * MiB
    ranges = part_ranges(size, TUNING)
    assert len(ranges) <= 10_000
    assert sum(length for _, length in ranges) == size
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(ranges))


def test_parts_hashed_in_any_order_give_the_file_digest(tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 17)
    target = tmp_path / "blob"
    target.write_bytes(data)
    parts = [(0, MiB), (MiB, MiB), (2 * MiB, MiB), (3 * MiB, 17)]
    hasher = _OrderedHasher(target, len(data))
    finished = [hasher.part_written(offset, length) for offset, length in reversed(parts)]
    assert finished == [False, False, False, True]  # only the last call completes the file
    assert hasher.digest.hexdigest() == hashlib.sha256(data).hexdigest()
