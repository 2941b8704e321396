"""pytest fixtures for the SMSC simulator (tools/peers/smsc_sim.py, a real smpp34 SMSC process).

``smsc`` gives a running simulator on free 127.0.0.1 ports, stopped after the test; ``smsc_factory``
starts more with options (``smsc_factory(id_format="dec")``). The simulator can be killed (SIGKILL)
and restarted on the same ports, and logs every submit_sm it saw to a file that survives the kill.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "tools" / "peers" / "smsc_sim.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Smsc:
    def __init__(self, workdir: Path, **options: Any) -> None:
        self.port = free_port()
        self.ctl_port = free_port()
        self.log_path = workdir / f"smsc-{self.port}.jsonl"
        self.out_path = workdir / f"smsc-{self.port}.out"
        self.options = options
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 20.0) -> None:
        args = [
            sys.executable,
            str(SIM),
            "--port",
            str(self.port),
            "--ctl-port",
            str(self.ctl_port),
            "--log",
            str(self.log_path),
        ]
        for key, value in self.options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        env = dict(os.environ, SMPP34_WORKER_THREADS="1")
        out = self.out_path.open("ab")
        try:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        finally:
            out.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"smsc_sim exited: {self.out_path.read_text(errors='replace')}")
            try:
                self.stats()
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"smsc_sim did not come up: {self.out_path.read_text(errors='replace')}")

    def kill(self) -> None:
        """SIGKILL: no unbind, no goodbye, in-flight answers lost."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (a hung SMSC)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused simulator cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        deadline = time.monotonic() + 30
        while True:  # the port may linger a moment after the kill
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _get(self, path: str) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.ctl_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return int(resp.status), json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), json.loads(exc.read() or b"{}")

    def stats(self) -> dict[str, Any]:
        return self._get("/stats")[1]

    def mo(self, **query: str) -> tuple[int, dict[str, Any]]:
        """Inject a mobile-originated message (to=, from=, text=, system_id=)."""
        return self._get("/mo?" + urllib.parse.urlencode(query))

    def submits(self) -> list[dict[str, Any]]:
        """Every submit_sm the simulator saw, across restarts."""
        if not self.log_path.exists():
            return []
        rows = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                with contextlib.suppress(json.JSONDecodeError):  # a line cut by a kill -9
                    rows.append(json.loads(line))
        return rows

    def link(self, name: str = "a", **overrides: Any) -> dict[str, Any]:
        """A link config dict for this simulator."""
        cfg: dict[str, Any] = {
            "name": name,
            "host": "127.0.0.1",
            "port": self.port,
            "system_id": "alertnode",
            "password": "secret",
        }
        cfg.update(overrides)
        return cfg


@pytest.fixture
def smsc_factory(tmp_path: Path) -> Iterator[Callable[..., Smsc]]:
    started: list[Smsc] = []

    def make(**options: Any) -> Smsc:
        sim = Smsc(tmp_path, **options)
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def smsc(smsc_factory: Callable[..., Smsc]) -> Smsc:
    return smsc_factory()
