"""`modelship serve` refuses what it cannot serve before it listens, in the pod's words."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from modelship.cli import main


def test_a_missing_model_path_exits_1_and_leaves_a_termination_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "termination-log"
    monkeypatch.setenv("MODELSHIP_TERMINATION_LOG", str(log))
    missing = tmp_path / "models" / "digits"
    result = CliRunner().invoke(
        main, ["serve", "--model-name", "digits", "--model-base-path", str(missing)]
    )
    assert result.exit_code == 1
    assert f"error: ModelPathNotFound: the model path {missing} is not a folder." in result.output
    assert log.read_text() == f"ModelPathNotFound: the model path {missing} is not a folder.\n"


def test_the_model_name_and_path_come_from_tf_serving_s_environment_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSHIP_TERMINATION_LOG", str(tmp_path / "log"))
    monkeypatch.setenv("MODEL_NAME", "digits")
    monkeypatch.setenv("MODEL_BASE_PATH", str(tmp_path / "absent"))
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert str(tmp_path / "absent") in result.output


def test_turning_off_both_protocols_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSHIP_TERMINATION_LOG", str(tmp_path / "log"))
    result = CliRunner().invoke(
        main,
        ["serve", "--model-name", "digits", "--model-base-path", str(tmp_path), "--no-grpc",
         "--no-rest"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "NoProtocol: --no-grpc and --no-rest leave no way to call the model." in result.output


def test_a_grpc_port_in_use_exits_1_with_address_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setenv("MODELSHIP_TERMINATION_LOG", str(tmp_path / "log"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main,
            ["serve", "--model-name", "digits", "--model-base-path", str(tmp_path),
             "--host", "127.0.0.1", "--port", "0", "--grpc-port", str(port)],
        )  # fmt: skip
    assert result.exit_code == 1
    assert f"AddressInUse: cannot listen for gRPC on 127.0.0.1:{port}" in result.output


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--capture-mask", "email"], "CaptureMisconfigured: --capture-mask needs a key: set "
         "MODELSHIP_CAPTURE_MASK_KEY"),
        (["--capture-max-bytes-per-hour", "lots"],
         'CaptureMisconfigured: a --capture-* flag: "lots" is not'),
        (["--capture-retention", "forever"],
         'CaptureMisconfigured: a --capture-* flag: "forever" is not'),
    ],
)  # fmt: skip
def test_a_capture_that_cannot_work_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], said: str
) -> None:
    monkeypatch.setenv("MODELSHIP_TERMINATION_LOG", str(tmp_path / "log"))
    monkeypatch.delenv("MODELSHIP_CAPTURE_MASK_KEY", raising=False)
    result = CliRunner().invoke(
        main,
        ["serve", "--model-name", "digits", "--model-base-path", str(tmp_path),
         "--capture-storage-uri", "s3://captures/digits", *flags],
    )  # fmt: skip
    assert result.exit_code == 1
    assert said in " ".join(result.output.split())


def test_a_capture_uri_that_is_not_s3_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSHIP_TERMINATION_LOG", str(tmp_path / "log"))
    result = CliRunner().invoke(
        main,
        ["serve", "--model-name", "digits", "--model-base-path", str(tmp_path),
         "--capture-storage-uri", "gs://captures/digits"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "InvalidStorageUri" in result.output
