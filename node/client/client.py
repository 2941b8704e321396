"""The alertnode Python client: standard library only (urllib, threading), so any Python 3.11 program can
import it without the node's server dependencies.

``send`` is fire-and-forget: it queues the event and returns at once; a background thread delivers it with
bounded retries (connection errors, 429 and 5xx are retried with exponential backoff; other 4xx are not).
``send_async`` and the blocking ``send_sync``/``send_alert`` return a ``SendResult`` and never raise.
Logs go to the ``alertnode.client`` logger; with ``debug=False`` only critical problems (no API key, not
configured) are logged.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, ClassVar

LOGGER_NAME = "alertnode.client"
log = logging.getLogger(LOGGER_NAME)

_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})  # RFC 9110 §15: worth trying again later


@dataclass(frozen=True)
class Event:
    """An event for ``POST /api/events``. Only ``message`` is required; fields left None are not sent."""

    message: str
    event: str | None = None
    title: str | None = None
    channel: str | None = None
    tags: list[str] | None = None
    link: str | None = None
    data: dict[str, Any] | None = None
    dedup_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        for name in ("event", "title", "channel", "tags", "link", "data"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.dedup_key is not None:
            body["dedupKey"] = self.dedup_key
        return body


@dataclass(frozen=True)
class SendResult:
    success: bool
    alert_ref: str | None = None      # populated on success (absent when every contact was capped)
    channel: str | None = None        # the event's channel, or the route's name
    warnings: list[str] = field(default_factory=list)
    error: str | None = None          # populated on failure
    status: int | None = None         # HTTP status; None when the node could not be reached
    coalesced: bool = False           # folded into an alert already open for the same dedup key
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def retryable(self) -> bool:
        return not self.success and (self.status is None or self.status in _RETRY_STATUS)


def _error_text(body: dict[str, Any], status: int) -> str:
    reason = str(body.get("failureReason") or f"HTTP {status}")
    details = "; ".join(f"{e.get('path')}: {e.get('message')}" for e in body.get("errors") or []
                        if isinstance(e, dict))
    return f"{reason} ({details})" if details else reason


class AlertNodeClient:
    """One node, one default API key. Thread-safe; one background thread per client, started on first send."""

    def __init__(self, url: str, api_key: str | None = None, *, debug: bool = False, timeout: float = 10.0,
                 max_attempts: int = 8, backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 queue_size: int = 10000, exit_flush_s: float = 2.0, use_env_proxy: bool = False) -> None:
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            log.error("alertnode client: url must start with http:// or https:// (got %r)", url[:40])
            self.url = "http://invalid.invalid"  # every send then fails cleanly as unreachable
        self.api_key = api_key
        self.debug = debug
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.exit_flush_s = exit_flush_s
        self.dropped = 0        # events given up on (queue full or attempts exhausted or refused)
        self.delivered = 0
        self._queue: queue.Queue[tuple[Event, str] | None] = queue.Queue(maxsize=queue_size)
        self._pending = 0
        self._idle = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # the node usually sits on localhost: an HTTP(S)_PROXY meant for the internet must not catch it
        handlers = [] if use_env_proxy else [urllib.request.ProxyHandler({})]
        self._opener = urllib.request.build_opener(*handlers)
        atexit.register(self._at_exit)

    # -- logging ------------------------------------------------------------------------------
    def _log(self, level: int, msg: str, *args: Any) -> None:
        if self.debug:
            log.log(level, msg, *args)

    def _key(self, api_key: str | None) -> str | None:
        key = api_key if api_key is not None else self.api_key
        if not key:
            log.error("alertnode client: no API key (configure one or pass api_key=)")
            return None
        return key

    # -- HTTP ---------------------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any], api_key: str) -> SendResult:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "Authorization": f"Bearer {api_key}", "User-Agent": "alertnode-python-client"}
        # the scheme is checked in __init__ (http/https only)
        request = urllib.request.Request(self.url + path, data=data, method="POST", headers=headers)  # noqa: S310
        status: int
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                status, raw = int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = int(exc.code), exc.read() or b""
            exc.close()
        except (OSError, ValueError) as exc:  # URLError, refused, reset, timeout; ValueError: a malformed URL
            reason = getattr(exc, "reason", exc)
            return SendResult(False, error=f"node unreachable: {reason}")
        try:
            answer = json.loads(raw) if raw else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if 200 <= status < 300 and answer.get("success", True):
            warnings = [str(w) for w in answer.get("warnings") or []]
            return SendResult(True, alert_ref=answer.get("alertRef"), channel=answer.get("channel"),
                              warnings=warnings, status=status, coalesced=bool(answer.get("coalesced")),
                              response=answer)
        return SendResult(False, error=_error_text(answer, status), status=status, response=answer)

    def _event_result(self, event: Event, api_key: str | None) -> SendResult:
        if not isinstance(event, Event) or not isinstance(event.message, str) or not event.message:
            return SendResult(False, error="an Event with a non-empty message is required")
        key = self._key(api_key)
        if key is None:
            return SendResult(False, error="no API key")
        return self._post("/api/events", event.to_json(), key)

    # -- public API ---------------------------------------------------------------------------
    def send(self, event: Event, api_key: str | None = None) -> None:
        """Queue the event for background delivery and return at once. Never raises."""
        try:
            if not isinstance(event, Event) or not event.message:
                log.error("alertnode client: send() needs an Event with a message")
                return
            key = self._key(api_key)
            if key is None:
                return
            self._ensure_thread()
            with self._idle:
                self._pending += 1
            try:
                self._queue.put_nowait((event, key))
            except queue.Full:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
                self.dropped += 1
                self._log(logging.WARNING, "alertnode client: queue full, event %r dropped", event.event)
        except Exception:  # the caller's code must never fail because alerting did
            log.exception("alertnode client: send() failed")

    def send_sync(self, event: Event, api_key: str | None = None) -> SendResult:
        """Send now (one attempt, blocking) and return the result. Never raises."""
        try:
            result = self._event_result(event, api_key)
        except Exception as exc:  # noqa: BLE001 - the contract: never raise into the caller
            result = SendResult(False, error=f"client error: {exc!r}")
        self._log_result("event", getattr(event, "event", None), result)
        return result

    async def send_async(self, event: Event, api_key: str | None = None) -> SendResult:
        """Send (one attempt, off the event loop) and return the result. Never raises."""
        try:
            return await asyncio.get_running_loop().run_in_executor(None, self.send_sync, event, api_key)
        except Exception as exc:  # noqa: BLE001 - the contract: never raise into the caller
            return SendResult(False, error=f"client error: {exc!r}")

    def send_alert(self, request: dict[str, Any], api_key: str | None = None) -> SendResult:
        """Thin wrapper of ``POST /api/json/sendalert``: ``request`` is the sendalert body as documented
        (``version``, ``clientRef``, ``alert`` ...); the full answer is in ``result.response``. Never raises."""
        try:
            key = self._key(api_key)
            if key is None:
                return SendResult(False, error="no API key")
            body = dict(request)
            body.setdefault("version", "latest")
            result = self._post("/api/json/sendalert", body, key)
        except Exception as exc:  # noqa: BLE001 - the contract: never raise into the caller
            result = SendResult(False, error=f"client error: {exc!r}")
        self._log_result("sendalert", request.get("clientRef") if isinstance(request, dict) else None, result)
        return result

    async def send_alert_async(self, request: dict[str, Any], api_key: str | None = None) -> SendResult:
        try:
            return await asyncio.get_running_loop().run_in_executor(None, self.send_alert, request, api_key)
        except Exception as exc:  # noqa: BLE001 - the contract: never raise into the caller
            return SendResult(False, error=f"client error: {exc!r}")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event was delivered or given up; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then stop the background thread."""
        self.flush(timeout)
        self._stop.set()
        thread = self._thread
        if thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)  # wakes the thread if it waits for work
            thread.join(timeout=max(timeout, 0.1))
        atexit.unregister(self._at_exit)

    # -- background delivery ------------------------------------------------------------------
    def _at_exit(self) -> None:
        if self._pending:
            self.flush(self.exit_flush_s)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="alertnode-client", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            entry = self._queue.get()
            if entry is None:
                break
            try:
                self._deliver(*entry)
            except Exception:
                log.exception("alertnode client: background delivery failed")
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, event: Event, api_key: str) -> None:
        delay = self.backoff_s
        for attempt in range(1, self.max_attempts + 1):
            result = self._event_result(event, api_key)
            if result.success:
                self.delivered += 1
                self._log_result("event", event.event, result)
                return
            if not result.retryable or attempt == self.max_attempts:
                self.dropped += 1
                self._log(logging.ERROR, "alertnode client: event %r not delivered after %d attempt(s): %s",
                          event.event, attempt, result.error)
                return
            self._log(logging.WARNING, "alertnode client: attempt %d for event %r failed (%s); retrying in %.1fs",
                      attempt, event.event, result.error, delay)
            if self._stop.wait(delay):
                self.dropped += 1
                return
            delay = min(delay * 2, self.max_backoff_s)

    def _log_result(self, what: str, name: str | None, result: SendResult) -> None:
        if result.success:
            self._log(logging.INFO, "alertnode client: %s %r sent: alert %s%s", what, name, result.alert_ref,
                      " (coalesced)" if result.coalesced else "")
            for warning in result.warnings:
                self._log(logging.WARNING, "alertnode client: %s %r: %s", what, name, warning)
        else:
            self._log(logging.ERROR, "alertnode client: %s %r failed: %s", what, name, result.error)


class AlertNode:
    """Process-wide default client: ``AlertNode.configure(url, api_key)`` once, then ``AlertNode.send(...)``."""

    _client: ClassVar[AlertNodeClient | None] = None

    @classmethod
    def configure(cls, url: str, api_key: str | None = None, debug: bool = False, **options: Any) -> AlertNodeClient:
        old = cls._client
        cls._client = AlertNodeClient(url, api_key, debug=debug, **options)
        if old is not None:
            old.close(timeout=old.exit_flush_s)
        return cls._client

    @classmethod
    def client(cls) -> AlertNodeClient | None:
        if cls._client is None:
            log.error("alertnode client: not configured (call AlertNode.configure(url, api_key) first)")
        return cls._client

    @classmethod
    def send(cls, event: Event, api_key: str | None = None) -> None:
        client = cls.client()
        if client is not None:
            client.send(event, api_key)

    @classmethod
    async def send_async(cls, event: Event, api_key: str | None = None) -> SendResult:
        client = cls.client()
        if client is None:
            return SendResult(False, error="not configured")
        return await client.send_async(event, api_key)

    @classmethod
    def send_alert(cls, request: dict[str, Any], api_key: str | None = None) -> SendResult:
        client = cls.client()
        if client is None:
            return SendResult(False, error="not configured")
        return client.send_alert(request, api_key)

    @classmethod
    def flush(cls, timeout: float | None = None) -> bool:
        return cls._client.flush(timeout) if cls._client is not None else True
