"""A TCP relay that puts the sandbox's loopback services on its bridge address.

The API server and the S3 server listen on 127.0.0.1 only; pods on the real node cannot reach
loopback, so the sandbox relays `<bridge ip>:<port>` to `127.0.0.1:<port>`. The bridge exists on
this machine only, so nothing becomes reachable from anywhere else.

    python -m modelship.dev.relay 10.88.0.1:19000=127.0.0.1:19000 [...]
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _handler(host: str, port: int):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    return handle


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def serve(routes: list[tuple[tuple[str, int], tuple[str, int]]]) -> None:
    servers = [
        await asyncio.start_server(_handler(*target), *listen, reuse_address=True)
        for listen, target in routes
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("relaying " + ", ".join(f"{a[0]}:{a[1]} -> {b[0]}:{b[1]}" for a, b in routes), flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str]) -> None:
    routes = []
    for spec in argv:
        listen, _, target = spec.partition("=")
        routes.append((_address(listen), _address(target)))
    asyncio.run(serve(routes))


if __name__ == "__main__":
    main(sys.argv[1:])
