"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (stdlib only): the page
stays open while the test changes the node's state, so the status page's own refresh is observed."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")


# Chromium with no route to anywhere but loopback: every name resolves to nothing except 127.0.0.1, and the
# browser's own background traffic (updates, safe browsing, metrics) is off. A page that needs the internet
# then fails visibly instead of quietly fetching.
OFFLINE_FLAGS = ("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--no-pings",
                 "--disable-domain-reliability", "--disable-client-side-phishing-detection",
                 "--disable-default-apps", "--disable-features=OptimizationHints,MediaRouter,Translate",
                 "--dns-prefetch-disable")


class Chromium:
    def __init__(self, window: tuple[int, int] = (1280, 900), extra_flags: tuple[str, ...] = ()) -> None:
        exe = shutil.which("chromium") or "/usr/bin/chromium"
        if not os.path.exists(exe):
            raise AssertionError("Debian package chromium is not installed")
        cmd_r, cmd_w = os.pipe()  # our commands -> chromium's fd 3
        ev_r, ev_w = os.pipe()  # chromium's fd 4 -> us

        def child() -> None:
            # the pipe protocol wants exactly fds 3 and 4 in chromium; dup2 is async-signal-safe, so this
            # preexec_fn is safe even with the test's other threads running
            os.dup2(cmd_r, 3)
            os.dup2(ev_w, 4)

        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        self.proc = subprocess.Popen(
            [exe, *CHROMIUM_FLAGS, *extra_flags, f"--user-data-dir={self._profile.name}",
             f"--window-size={window[0]},{window[1]}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=child, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(ev_w)
        self._w = os.fdopen(cmd_w, "wb", buffering=0)
        self._r = os.fdopen(ev_r, "rb", buffering=0)
        self._buf = b""
        self._id = 0
        self.session = ""
        self.events: list[dict[str, Any]] = []
        """every DevTools event received so far (``method`` and ``params``), e.g. Network.requestWillBeSent"""

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            msg["sessionId"] = self.session
        self._w.write(json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                chunk = self._r.read(1 << 16)
                if not chunk:
                    raise AssertionError("chromium closed its DevTools pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if "method" in reply and "id" not in reply:
                self.events.append(reply)
                continue
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url=url)
        self.session = self.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"the page never satisfied {expression!r}")
            time.sleep(0.2)

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.proc.wait(10)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(10)
        finally:
            self._w.close()
            self._r.close()
            self._profile.cleanup()
