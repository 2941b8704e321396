"""Start the real node (``alertnode serve``) as a subprocess on free ports, for tests and benchmarks."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

API_KEY = "test-key-0123456789"
_LISTEN = re.compile(r"alertnode: listening control=([\d.]+):(\d+) public=([\d.]+):(\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value)} to TOML")


def to_toml(tree: Mapping[str, Any]) -> str:
    lines = []
    for section, body in tree.items():
        lines.append(f"[{section}]")
        for key, value in body.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


class RunningNode:
    def __init__(self, data_dir: Path, config: Mapping[str, Any], env: Mapping[str, str] | None = None,
                 args: Sequence[str] = ()) -> None:
        """``args``: more arguments of ``alertnode serve`` (e.g. ``--sandbox``)."""
        self.data_dir = data_dir
        self.args = list(args)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.api_key = API_KEY
        tree = merge({"node": {"data_dir": str(data_dir / "data")},
                      "api": {"port": 0, "api_keys": [API_KEY]}, "public": {"port": 0}}, config)
        self.config_path = data_dir / "alertnode.toml"
        self.config_path.write_text(to_toml(tree), encoding="utf-8")
        self.env = dict(os.environ, **(env or {}))
        self.proc: subprocess.Popen[str] | None = None
        self.pump: threading.Thread | None = None
        self.output: list[str] = []
        self.url = ""
        self.public_url = ""

    def start(self, timeout: float = 60.0) -> RunningNode:
        self.output = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alertnode.cli", "serve", "--config", str(self.config_path), *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                m = _LISTEN.search(line)
                if m:
                    self.url = f"http://{m.group(1)}:{m.group(2)}"
                    self.public_url = f"http://{m.group(3)}:{m.group(4)}"
                    ready.set()

        self.pump = threading.Thread(target=pump, daemon=True)
        self.pump.start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("node did not start:\n" + "".join(self.output))
        return self

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=60, trust_env=False)

    def post(self, path: str, body: Any) -> httpx.Response:
        with self.client() as c:
            return c.post(path, json=body)

    def events(self, cursor: int = 0, **extra: Any) -> dict[str, Any]:
        resp = self.post("/api/json/collectevents", {"version": "latest", "cursor": cursor, **extra})
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data

    def wait_events(self, predicate: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll collectevents until ``predicate(all_events)`` is true; return all events."""
        deadline = time.monotonic() + timeout
        events: list[dict[str, Any]] = []
        cursor = 0
        while True:
            data = self.events(cursor, limit=5000)
            events.extend(data["events"])
            cursor = data["cursor"]
            if predicate(events):
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for events; got {events[-20:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self._close()
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._close()
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.pump is not None:
            self.pump.join(timeout=5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
