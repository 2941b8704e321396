"""Logging set-up for the entry point: plain or JSON lines to stderr, phone numbers and e-mail
addresses masked in every line (a filter on the handler, so no module can leak them).

Correlation ids (``alert_ref``, ``delivery_id``, ``call_id``, ``message_id``, ``link``) go on a line
either per call, ``log.info("sent", extra={"delivery_id": 7})``, or for everything logged inside a
block, including asyncio tasks started in it (they copy the context)::

    with log_ids(alert_ref=ref, delivery_id=work.delivery_id):
        ...
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import types
from collections.abc import Mapping
from typing import Any

_PHONE = re.compile(r"(?<![\w+])\+?\d[\d ]{6,14}\d(?!\w)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")
_IDS = ("alert_ref", "delivery_id", "call_id", "message_id", "link")
_ID_SET = frozenset(_IDS)
_NO_IDS: Mapping[str, Any] = types.MappingProxyType({})
_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("alertnode_log_ids", default=_NO_IDS)


class log_ids:
    """Put these ids on every line logged inside the block (nested blocks add to the outer ids).
    A class rather than a generator: it runs once per delivery on the dispatcher's hot path."""

    __slots__ = ("_ids", "_token")

    def __init__(self, **ids: Any) -> None:
        unknown = ids.keys() - _ID_SET
        if unknown:
            raise ValueError(f"unknown log ids {sorted(unknown)}; known: {_IDS}")
        self._ids = ids
        self._token: contextvars.Token[Mapping[str, Any]] | None = None

    def __enter__(self) -> None:
        outer = _CONTEXT.get()
        ids = {k: v for k, v in self._ids.items() if v is not None}
        self._token = _CONTEXT.set({**outer, **ids} if outer else ids)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _CONTEXT.reset(self._token)
            self._token = None


def mask(text: str) -> str:
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: m.group(0)[:4] + "***" + m.group(0)[-2:], text)


class MaskingFilter(logging.Filter):
    """Masks the message and fills in the context's ids the call did not give itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):  # wrong %-args: log what we have rather than lose the line
            text = f"{record.msg!s} {record.args!r}"
        record.msg = mask(text)
        record.args = None
        for key, value in _CONTEXT.get().items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _IDS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = mask(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = mask(self.formatStack(record.stack_info))
        # one line per record, whatever the message holds (journald splits lines into entries)
        return json.dumps(out, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        # the ids end the first line, before any traceback
        line = super().formatMessage(record)
        ids = " ".join(f"{k}={getattr(record, k)}" for k in _IDS if getattr(record, k, None) is not None)
        return f"{line} [{ids}]" if ids else line

    def formatException(self, ei: object) -> str:
        return mask(super().formatException(ei))  # type: ignore[arg-type]


def configure(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
