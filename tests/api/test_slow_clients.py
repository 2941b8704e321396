"""Slow HTTP clients are dropped, on the control and the public listener, while others are served (issue 14):
a connection that never finishes its request headers (slowloris: a byte now and then), one that sends nothing,
one that stops in the middle of a body, one idle after its answer; with either HTTP parser (httptools, the default,
and h11, the fallback). The real node, raw sockets on 127.0.0.1; a bounded number of connections, each test bounded
in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from tests.nodeproc import RunningNode

SLOW = 150  # connections of each kind per listener
TIMEOUTS = {"header_timeout_s": 1.0, "idle_timeout_s": 1.0}
# far above the 1 s time-outs: the node must drop them, even on a loaded machine, well before this
GIVE_UP_S = 20.0


async def open_conn(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def closed_by_server(reader: asyncio.StreamReader, deadline: float) -> bytes | None:
    """What the server sent before it closed the connection (None: still open at the deadline)."""
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            chunk = await asyncio.wait_for(reader.read(4096), left)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk


async def slowloris(port: int, stop: asyncio.Event) -> asyncio.StreamReader:
    reader, writer = await open_conn(port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")

    async def drip() -> None:
        while not stop.is_set() and not writer.is_closing():
            try:
                writer.write(b"a")
                await writer.drain()
            except (ConnectionError, OSError):
                return
            await asyncio.sleep(0.3)  # a byte well inside the idle time-out: only the header deadline stops it

    asyncio.get_running_loop().create_task(drip())
    return reader


async def silent(port: int) -> asyncio.StreamReader:
    reader, _ = await open_conn(port)
    return reader


async def stalled_body(port: int, path: str) -> asyncio.StreamReader:
    reader, writer = await open_conn(port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 1000\r\n\r\n{\"version\": ".encode())
    return reader


async def idle_after_answer(port: int) -> asyncio.StreamReader:
    reader, writer = await open_conn(port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await reader.readuntil(b"\r\n\r\n")
    return reader


async def scenario(port: int, post_path: str) -> dict[str, list[bytes | None]]:
    stop = asyncio.Event()
    kinds = {
        "slowloris": [slowloris(port, stop) for _ in range(SLOW)],
        "silent": [silent(port) for _ in range(SLOW)],
        "stalled body": [stalled_body(port, post_path) for _ in range(SLOW // 3)],
        "idle after answer": [idle_after_answer(port) for _ in range(SLOW // 3)],
    }
    readers = {name: await asyncio.gather(*conns) for name, conns in kinds.items()}
    # while they hang on, others are served
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        for _ in range(5):
            resp = await client.get(f"http://127.0.0.1:{port}/healthz")
            assert resp.status_code == 200
    deadline = time.monotonic() + GIVE_UP_S
    results = {name: list(await asyncio.gather(*(closed_by_server(r, deadline) for r in rs)))
               for name, rs in readers.items()}
    stop.set()
    return results


@pytest.mark.parametrize("parser", ["httptools", "h11"])
@pytest.mark.parametrize("listener", ["control", "public"])
def test_slow_clients_are_dropped_while_others_are_served(run_node: Callable[..., RunningNode],
                                                          listener: str, parser: str) -> None:
    node = run_node({"api": TIMEOUTS, "public": TIMEOUTS, "node": {"http_parser": parser}})
    url = node.url if listener == "control" else node.public_url
    port = int(url.rsplit(":", 1)[1])
    post_path = "/api/json/sendalert" if listener == "control" else "/s/abcdefghij"
    started = time.monotonic()
    results = asyncio.run(scenario(port, post_path))
    for name, outcomes in results.items():
        still_open = sum(o is None for o in outcomes)
        assert still_open == 0, f"{listener}: {still_open} of {len(outcomes)} {name} connections still open"
    # a client that never finished its headers is told why (RFC 9110 §15.5.9) before the close
    assert all(o is not None and o.startswith(b"HTTP/1.1 408 ") for o in results["slowloris"]), results["slowloris"][:3]
    assert time.monotonic() - started < GIVE_UP_S + 15
    assert "unhandled error" not in "".join(node.output)
