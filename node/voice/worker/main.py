"""The worker process's entry point: the pipe's two ends and the process's lifetime.

The protocol is JSON lines (node/voice/pipe.py): commands on stdin, events on stdout, the first line
the ``init`` command. pjsua2 writes its own log to stderr; the real stdout descriptor is kept for the
protocol and descriptor 1 is pointed at stderr so no C library can corrupt the pipe. Commands are
read on a thread of their own and queued for the main loop; a line that is not a command is logged
and dropped; the end of stdin (the supervisor is gone) shuts the worker down.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from alertnode.errors import SipError
from alertnode.voice.pipe import Command, Event, Fatal, LogLine, PipeError, Shutdown, WorkerInit, decode_command, encode
from alertnode.voice.worker import pjsua
from alertnode.voice.worker.loop import Worker

log = logging.getLogger(__name__)


class PipeWriter:
    """The event stream to the supervisor; written from the main loop and, for log records, from any
    thread, hence the lock."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, event: Event) -> None:
        line = encode(event)
        with self._lock:
            self._stream.write(line)
            self._stream.flush()


class PipeLogHandler(logging.Handler):
    """Log records of the worker process travel to the supervisor, which logs them in the node's own
    format (only the node's entry point configures handlers)."""

    def __init__(self, writer: PipeWriter) -> None:
        super().__init__(logging.INFO)
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._writer.write(LogLine(record.levelno, record.getMessage()))
        except (OSError, ValueError, TypeError):  # logging must never raise; the pipe may be gone
            self.handleError(record)


def read_commands(stream: TextIO, submit: Callable[[Command], None]) -> None:
    """Queue each command read; drop (and log) a line that is none; at the end of the stream, shut
    down (the supervisor is gone)."""
    try:
        for line in stream:
            line = line.strip()
            if not line:
                continue
            try:
                submit(decode_command(line))
            except PipeError as exc:
                log.warning("worker: command line dropped: %s", exc)
    finally:
        submit(Shutdown())


def main() -> None:
    writer = PipeWriter(os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1))
    os.dup2(2, 1)  # anything written to stdout by C code (pjsua's console) now goes to stderr
    root = logging.getLogger()
    root.addHandler(PipeLogHandler(writer))
    root.setLevel(logging.INFO)
    try:
        init = decode_command(sys.stdin.readline())
    except PipeError as exc:
        raise SystemExit(f"voice worker: the first line is no command: {exc}") from exc
    if not isinstance(init, WorkerInit):
        raise SystemExit("voice worker: the first command must be init")
    pjsua.load()
    worker = Worker(init, writer.write)
    try:
        worker.start()
    except SipError as exc:
        # e.g. the SIP port is taken: say why before exiting, the supervisor logs it
        writer.write(Fatal(str(exc)))
        raise SystemExit(1) from exc
    threading.Thread(target=read_commands, args=(sys.stdin, worker.submit), daemon=True).start()
    worker.run()
    sys.stdout.flush()
    sys.stderr.flush()
    # every pjsua2 object is gone and libDestroy ran; skip the interpreter's teardown, whose
    # garbage collection order across SWIG proxies is not ours to control
    os._exit(0)
