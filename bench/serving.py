"""Benchmark of `modelship serve`: throughput and latency at several concurrencies, over REST
and gRPC, with the batch timeout as given and at 0, against in-process calls of the same
signature and a naive one-request-one-call aiohttp endpoint, all in the same run; plus the
server's memory at idle and under load.

    python bench/serving.py [--requests 2000] [--concurrency 1,16,64]

Everything runs on 127.0.0.1. The model is the digits example (trained for a few epochs at
the start). Each request carries one image (1 x 64 float32) in TF Serving's row format.
The load generator shares the machine with the server: on a small machine its own CPU use
is part of what is measured, the same for both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = "digits"
PREDICT_PATH = f"/v1/models/{MODEL}:predict"


@dataclass(frozen=True)
class Result:
    """One measured run: how many requests, how long, and each one's latency."""

    label: str
    concurrency: int
    requests: int
    seconds: float
    latencies: tuple[float, ...]
    errors: int = 0
    mean_batch: float | None = None

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000


# -- the naive endpoint ------------------------------------------------------------------


def naive_server(model_dir: str) -> None:
    """An aiohttp handler that calls the model once per request, on the event loop, with
    no batching and no model thread: the simplest server one would write."""
    import tensorflow as tf
    from aiohttp import web

    signature = tf.saved_model.load(model_dir).signatures["serving_default"]

    async def predict(request: web.Request) -> web.Response:
        body = await request.json()
        pixels = np.asarray(body["instances"], dtype=np.float32)
        outputs = signature(pixels=tf.constant(pixels))
        return web.json_response({"predictions": outputs["probabilities"].numpy().tolist()})

    async def run() -> None:
        app = web.Application()
        app.router.add_post(PREDICT_PATH, predict)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(run())


def kserve_server(model_dir: str, port: int) -> None:
    """KServe's Python ModelServer (pip kserve) serving the same SavedModel through a
    kserve.Model, with its defaults (one worker), on the same v1 route."""
    import kserve
    import tensorflow as tf

    class SavedModel(kserve.Model):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(MODEL)
            self.load()

        def load(self) -> bool:
            self.signature = tf.saved_model.load(model_dir).signatures["serving_default"]
            self.ready = True
            return True

        def predict(self, payload: dict[str, Any], headers: Any = None) -> dict[str, Any]:
            pixels = np.asarray(payload["instances"], dtype=np.float32)
            outputs = self.signature(pixels=tf.constant(pixels))
            return {"predictions": outputs["probabilities"].numpy().tolist()}

    kserve.ModelServer(http_port=port, enable_grpc=False, workers=1).start([SavedModel()])


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- processes ---------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def grpc_port(self) -> int:
        found = re.search(r"gRPC on 127\.0\.0\.1:(\d+)", self.log.read_text("utf-8", "replace"))
        if not found:
            raise SystemExit(f"{self.name} does not listen for gRPC")
        return int(found[1])

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(found[1]) / 1024 if found else float("nan")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(name: str, command: list[str], log: Path, port: int | None = None) -> Server:
    """Start a server; its port is `port`, or the one its log line says it listens on."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    if port is not None:
        return Server(name, process, port, log)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = re.search(
            r"listening on http://127\.0\.0\.1:(\d+)", log.read_text("utf-8", "replace")
        )
        if found:
            return Server(name, process, int(found[1]), log)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{name} did not start:\n{log.read_text('utf-8', 'replace')[-3000:]}")


def wait_ready(server: Server, path: str, body: bytes | None = None) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=body)
            with urllib.request.urlopen(request, timeout=30) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{server.name} never became ready")


def batch_totals(server: Server) -> tuple[float, float]:
    """(model calls, rows) so far, from the modelship server's /metrics."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=30) as r:
        text = r.read().decode()
    totals = {}
    for kind in ("count", "sum"):
        found = re.findall(rf"^modelship_batch_size_{kind}\{{[^}}]*\}} (\S+)$", text, re.MULTILINE)
        totals[kind] = sum(float(v) for v in found)
    return totals["count"], totals["sum"]


# -- load --------------------------------------------------------------------------------


async def http_load(
    port: int, body: bytes, concurrency: int, total: int
) -> tuple[float, list[float], int]:
    import aiohttp

    url = f"http://127.0.0.1:{port}{PREDICT_PATH}"
    latencies: list[float] = []
    errors = 0
    issued = 0
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal issued, errors
            while issued < total:
                issued += 1
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
    return seconds, latencies, errors


async def grpc_load(
    port: int, request: bytes, concurrency: int, total: int
) -> tuple[float, list[float], int]:
    """TF Serving's Predict over gRPC, the request already serialized (as a client would
    reuse one), from `concurrency` calls in flight on one HTTP/2 channel."""
    import grpc

    latencies: list[float] = []
    errors = 0
    issued = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        predict = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")

        async def worker() -> None:
            nonlocal issued, errors
            while issued < total:
                issued += 1
                started = time.perf_counter()
                try:
                    await predict(request, timeout=60)
                except grpc.aio.AioRpcError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
    return seconds, latencies, errors


def predict_request_bytes(image: np.ndarray[Any, Any]) -> bytes:
    """A serialized tensorflow.serving.PredictRequest for one image, as
    tf.make_tensor_proto builds it (values packed in tensor_content)."""
    from modelship.serving.protos import message

    request = message("tensorflow.serving.PredictRequest")()
    request.model_spec.name = MODEL
    tensor = request.inputs["pixels"]
    tensor.dtype = 1  # DT_FLOAT
    for size in image.shape:
        tensor.tensor_shape.dim.add().size = size
    tensor.tensor_content = image.astype("<f4").tobytes()
    data: bytes = request.SerializeToString()
    return data


def load_client(spec_json: str) -> None:
    """One load-generating process (see run_load): waits for the shared start time, runs its
    share of the load and prints its latencies as JSON."""
    spec = json.loads(spec_json)
    payload = Path(spec["payload"]).read_bytes()
    time.sleep(max(0.0, spec["start"] - time.time()))
    if spec["grpc"]:
        result = asyncio.run(grpc_load(spec["port"], payload, spec["concurrency"], spec["total"]))
    else:
        result = asyncio.run(http_load(spec["port"], payload, spec["concurrency"], spec["total"]))
    print(json.dumps(result))


def ghz_load(
    ghz: str, port: int, payload: bytes, concurrency: int, total: int
) -> tuple[float, list[float], int]:
    """gRPC load from ghz (a Go load generator: far less CPU per call than a Python client),
    every call on one connection, as grpc_load does."""
    with tempfile.NamedTemporaryFile(prefix="modelship-bench-", suffix=".bin") as body_file:
        body_file.write(payload)
        body_file.flush()
        ran = subprocess.run(
            [ghz, "--insecure", "--call", "tensorflow.serving.PredictionService.Predict",
             "-B", body_file.name, "-c", str(concurrency), "-n", str(total), "-O", "json",
             f"127.0.0.1:{port}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    report = json.loads(ran.stdout)
    latencies = [d["latency"] / 1e9 for d in report["details"]]
    errors = sum(n for code, n in report["statusCodeDistribution"].items() if code != "OK")
    return report["total"] / 1e9, latencies, errors


def run_load(
    port: int, payload: bytes, over_grpc: bool, concurrency: int, total: int, processes: int
) -> tuple[float, list[float], int]:
    """The load from `processes` client processes (one Python client process saturates a
    core long before the server does), each with its share of the requests in flight; gRPC
    from ghz instead when it is installed (GHZ, or on PATH)."""
    ghz = os.environ.get("GHZ") or shutil.which("ghz")
    if over_grpc and ghz:
        return ghz_load(ghz, port, payload, concurrency, total)
    processes = max(1, min(processes, concurrency))
    if processes == 1:
        if over_grpc:
            return asyncio.run(grpc_load(port, payload, concurrency, total))
        return asyncio.run(http_load(port, payload, concurrency, total))
    with tempfile.NamedTemporaryFile(prefix="modelship-bench-", suffix=".bin") as body_file:
        body_file.write(payload)
        body_file.flush()
        start = time.time() + 3.0  # every client imported and connected-ready by then
        clients = []
        for index in range(processes):
            spec = {
                "payload": body_file.name,
                "grpc": over_grpc,
                "port": port,
                "concurrency": concurrency // processes + (index < concurrency % processes),
                "total": total // processes + (index < total % processes),
                "start": start,
            }
            clients.append(
                subprocess.Popen(
                    [sys.executable, "-P", __file__, "--load-client", json.dumps(spec)],
                    stdout=subprocess.PIPE,
                )
            )
        results = [json.loads(c.communicate()[0].decode().splitlines()[-1]) for c in clients]
    seconds = max(r[0] for r in results)
    latencies = [latency for r in results for latency in r[1]]
    return seconds, latencies, sum(r[2] for r in results)


def measure_http(
    server: Server,
    body: bytes,
    concurrency: int,
    total: int,
    grpc_request: bytes | None = None,
    processes: int = 1,
) -> Result:
    """REST load (or gRPC, when `grpc_request` is given) after a short warm-up."""
    over_grpc = grpc_request is not None
    port = server.grpc_port if over_grpc else server.port
    payload = grpc_request if grpc_request is not None else body
    run_load(port, payload, over_grpc, concurrency, min(total, 4 * concurrency), 1)  # warm
    before = batch_totals(server) if server.name.startswith("modelship") else None
    seconds, latencies, errors = run_load(port, payload, over_grpc, concurrency, total, processes)
    mean_batch = None
    if before is not None:
        calls, rows = batch_totals(server)
        mean_batch = (rows - before[1]) / max(calls - before[0], 1)
    label = f"{server.name} grpc" if over_grpc else server.name
    return Result(label, concurrency, total, seconds, tuple(latencies), errors, mean_batch)


def measure_in_process(call: Callable[[], Any], concurrency: int, total: int) -> Result:
    """`total` calls of the signature from `concurrency` threads (one image each)."""
    for _ in range(10):
        call()
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [total]

    def worker() -> None:
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            started = time.perf_counter()
            call()
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    return Result("in-process", concurrency, total, time.perf_counter() - began, tuple(latencies))


class PeakRss:
    """Samples a server's RSS every 50 ms while a load runs."""

    def __init__(self, server: Server) -> None:
        self.server, self.peak = server, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.server.rss_mib())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the run -----------------------------------------------------------------------------


def train_digits(folder: Path, epochs: int) -> np.ndarray[Any, Any]:
    spec = importlib.util.spec_from_file_location("digits", ROOT / "examples/digits/digits.py")
    assert spec and spec.loader
    digits = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(digits)
    model, metrics = digits.build_and_train(epochs=epochs)
    digits.export_saved_model(model, folder)
    print(f"model: digits example, {epochs} epochs, test accuracy {metrics['accuracy']:.3f}")
    _, x_test, _, _ = digits.load_digits_split()
    return np.asarray(x_test[:1], dtype=np.float32)


def build_mlp(folder: Path, width: int = 4096, features: int = 1024) -> None:
    """A compute-bound model: three dense layers `width` wide (random weights), softmax over
    10 classes, exported with input `pixels` float32 [-1, features]."""
    import tensorflow as tf

    inputs = tf.keras.Input((features,), name="pixels")
    hidden = inputs
    for _ in range(3):
        hidden = tf.keras.layers.Dense(width, activation="relu")(hidden)
    outputs = tf.keras.layers.Dense(10, activation="softmax", name="probabilities")(hidden)
    model = tf.keras.Model(inputs, outputs)

    @tf.function(input_signature=[tf.TensorSpec([None, features], tf.float32, name="pixels")])
    def serve(pixels: Any) -> dict[str, Any]:
        return {"probabilities": model(pixels)}

    tf.saved_model.save(model, str(folder), signatures={"serving_default": serve})


def compute_bound(args: argparse.Namespace) -> None:
    """gRPC and REST at 64 in flight, one row per request, against the physical limit: one
    process calling the signature with batches of 64 rows."""
    import tensorflow as tf

    features, rows, total = 1024, 64, args.requests
    with tempfile.TemporaryDirectory(prefix="modelship-bench-") as scratch:
        base = Path(scratch) / MODEL
        build_mlp(base / "1", features=features)
        signature = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
        batch = tf.constant(np.random.default_rng(0).random((rows, features), np.float32))
        for _ in range(3):
            signature(pixels=batch)
        calls = max(total // rows, 5)

        def in_process_rate() -> float:
            began = time.perf_counter()
            for _ in range(calls):
                signature(pixels=batch)
            return calls * rows / (time.perf_counter() - began)

        # Measured before and after the server's loads: on a shared machine the CPU left to
        # this run drifts, and the ratio should not ride on one moment.
        before = in_process_rate()
        image = np.random.default_rng(1).random((1, features), np.float32)
        body = json.dumps({"instances": image.tolist()}).encode()
        server = start(
            "modelship",
            [sys.executable, "-c", "from modelship.cli import main; main()", "serve",
             "--model-name", MODEL, "--model-base-path", str(base), "--host", "127.0.0.1",
             "--port", "0", "--grpc-port", "0", "--max-batch-size", str(rows),
             "--batch-timeout-micros", str(args.batch_timeout_micros)],
            Path(scratch) / "modelship.log",
        )  # fmt: skip
        try:
            wait_ready(server, "/v2/health/ready")
            over_grpc = measure_http(
                server, body, rows, total, predict_request_bytes(image), args.client_processes
            )
            over_rest = measure_http(server, body, rows, total, None, args.client_processes)
        finally:
            server.stop()
        after = in_process_rate()
    in_process = (before + after) / 2
    print(f"model: MLP {features} -> 3 x 4096 (relu) -> 10, random weights; "
          f"machine: {os.cpu_count()} CPUs, TensorFlow {tf.__version__}")  # fmt: skip
    print(f"in-process, batches of {rows}: {in_process:.0f} rows/s "
          f"(before the server: {before:.0f}, after: {after:.0f})")  # fmt: skip
    for result in (over_grpc, over_rest):
        print(f"{result.label:<16} {rows} in flight, 1 row each: {result.throughput:.0f} rows/s "
              f"= {result.throughput / in_process:.2f} x in-process; p50 "
              f"{result.percentile(50):.1f} ms, rows/call {result.mean_batch:.1f}, "
              f"errors {result.errors}")  # fmt: skip


def table(results: list[Result]) -> None:
    print(f"{'endpoint':<18} {'conc':>4} {'requests':>8} {'req/s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'errors':>6} {'rows/call':>9}")  # fmt: skip
    for r in results:
        batch = f"{r.mean_batch:.1f}" if r.mean_batch is not None else "1.0"
        p50, p99 = r.percentile(50), r.percentile(99)
        print(f"{r.label:<18} {r.concurrency:>4} {r.requests:>8} {r.throughput:>8.0f} "
              f"{p50:>8.2f} {p99:>8.2f} {r.errors:>6} {batch:>9}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint and level")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout-micros", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--mlp",
        action="store_true",
        help="instead: the compute-bound comparison (an MLP of three 4096-wide layers)",
    )
    parser.add_argument(
        "--client-processes",
        type=int,
        default=2,
        help="load-generating processes (each with its share of the requests in flight)",
    )
    parser.add_argument("--naive-server", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--load-client", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--kserve-server", nargs=2, metavar="X", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_client:
        load_client(args.load_client)
        return
    if args.naive_server:
        naive_server(args.naive_server)
        return
    if args.kserve_server:
        kserve_server(args.kserve_server[0], int(args.kserve_server[1]))
        return
    if args.mlp:
        compute_bound(args)
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="modelship-bench-") as scratch:
        base = Path(scratch) / "digits"
        image = train_digits(base / "1", args.epochs)
        body = json.dumps({"instances": image.tolist()}).encode()
        print(f"batching: --max-batch-size {args.max_batch_size} "
              f"--batch-timeout-micros {args.batch_timeout_micros}")  # fmt: skip
        print(f"machine: {os.cpu_count()} CPUs ({platform.machine()}), Python "
              f"{platform.python_version()}, TensorFlow {tf.__version__}")  # fmt: skip
        ghz = os.environ.get("GHZ") or shutil.which("ghz")
        print(f"gRPC load: {'ghz (' + ghz + ')' if ghz else 'grpc.aio in Python'}")
        print(f"requests: {args.requests} per endpoint and concurrency level (+ a short warm-up);"
              " one 1x64 image per request, loopback HTTP/1.1 keep-alive; "
              f"{args.client_processes} client processes when more than 1 in flight")  # fmt: skip
        print()

        signature = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
        results = [
            measure_in_process(lambda: signature(pixels=tf.constant(image)), c, args.requests)
            for c in levels
        ]

        def modelship_server(name: str, timeout_micros: int) -> Server:
            return start(
                name,
                [sys.executable, "-c", "from modelship.cli import main; main()", "serve",
                 "--model-name", MODEL, "--model-base-path", str(base), "--host", "127.0.0.1",
                 "--port", "0", "--grpc-port", "0",
                 "--max-batch-size", str(args.max_batch_size),
                 "--batch-timeout-micros", str(timeout_micros)],
                Path(scratch) / f"{name}.log",
            )  # fmt: skip

        modelship = modelship_server("modelship", args.batch_timeout_micros)
        no_wait = modelship_server("modelship wait=0", 0)
        naive = start(
            "naive",
            [sys.executable, "-P", __file__, "--naive-server", str(base / "1")],
            Path(scratch) / "naive.log",
        )
        servers: tuple[Server, ...] = (modelship, no_wait, naive)
        if importlib.util.find_spec("kserve") is not None:
            port = free_port()
            kserve = start(
                "kserve",
                [sys.executable, "-P", __file__, "--kserve-server", str(base / "1"), str(port)],
                Path(scratch) / "kserve.log",
                port,
            )
            servers = (*servers, kserve)
        else:
            print("kserve is not installed: no KServe ModelServer baseline (pip install kserve)")
        grpc_request = predict_request_bytes(image)
        try:
            for server in (modelship, no_wait):
                wait_ready(server, "/v2/health/ready")
            wait_ready(naive, PREDICT_PATH, body)
            if servers[-1].name == "kserve":
                wait_ready(servers[-1], f"/v1/models/{MODEL}")
            memory = {f"{s.name} idle": s.rss_mib() for s in servers}
            loads = [(s, None) for s in servers] + [(modelship, grpc_request)]
            for server, over_grpc in loads:
                for c in levels:
                    with PeakRss(server) as peak:
                        results.append(
                            measure_http(
                                server, body, c, args.requests, over_grpc, args.client_processes
                            )
                        )
                    memory[f"{server.name} peak under load"] = max(
                        memory.get(f"{server.name} peak under load", 0.0), peak.peak
                    )
        finally:
            for server in servers:
                server.stop()

    table(results)
    print()
    by = {(r.label, r.concurrency): r for r in results}
    for label in ("modelship", "modelship wait=0", "modelship grpc"):
        for c in levels:
            served = by[(label, c)].throughput
            versus_in_process = served / by[("in-process", c)].throughput
            versus_naive = served / by[("naive", c)].throughput
            line = (f"{label:<16} concurrency {c:>3}: / in-process = {versus_in_process:.2f}, "
                    f"/ naive = {versus_naive:.2f}")  # fmt: skip
            if ("kserve", c) in by:
                kserve_result = by[("kserve", c)]
                line += f", / kserve = {served / kserve_result.throughput:.2f}"
                p50_ratio = by[(label, c)].percentile(50) / kserve_result.percentile(50)
                line += f", p50 / kserve p50 = {p50_ratio:.2f}"
            print(line)
    print()
    for name, mib in memory.items():
        print(f"RSS {name}: {mib:.0f} MiB")


if __name__ == "__main__":
    main()
