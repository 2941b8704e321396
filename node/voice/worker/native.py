"""Two shortcuts into the pjsua2 wheel's own library (ctypes), each checked and with a fallback.

* :func:`vector_reader`: a cheap copy of a ``ByteVector`` (a received audio frame).
* :func:`c_responder`: answer an incoming request's transaction; pjsua2 wraps no such call, and an
  INFO ``application/dtmf`` that pjsua does not know would otherwise get 500.

The pjsua2 module is passed in (node/voice/worker/pjsua.py stays the only module importing it).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

Responder = Callable[[int, int, int], bool]
"""``respond(transaction, rx_data, code)``: True when the response went out."""


def vector_reader(pj: Any) -> Callable[[Any], bytes]:
    """A cheap copy of a pjsua2 ``ByteVector`` (std::vector<unsigned char>).

    ``bytes(frame.buf)`` iterates element by element through SWIG (~200-400 µs per 320-byte frame,
    measured here); reading the vector's begin/end pointers (libstdc++ layout) and copying with
    ``ctypes.string_at`` takes ~2 µs. The layout is checked once against the slow path; if it does
    not match, the slow path is used."""

    def slow(vec: Any) -> bytes:
        return bytes(vec)

    def fast(vec: Any) -> bytes:
        addr = int(vec.this)
        begin = ctypes.c_void_p.from_address(addr).value or 0
        end = ctypes.c_void_p.from_address(addr + ctypes.sizeof(ctypes.c_void_p)).value or 0
        if end <= begin or end - begin > 65536:
            return b""
        return ctypes.string_at(begin, end - begin)

    probe = pj.ByteVector()
    for i in range(320):
        probe.append((i * 7) % 256)
    try:
        if fast(probe) == slow(probe):
            return fast
    except (ValueError, OSError, TypeError):
        pass
    return slow


def c_responder(pj: Any) -> Responder | None:
    """``respond(transaction, rx_data, code)``: answer an incoming request's transaction, through
    ``pjsip_endpt_create_response`` and ``pjsip_tsx_send_msg`` of the wheel's own library (pjsua2
    wraps no such call). None when the library does not export them."""
    try:
        lib = ctypes.CDLL(str(next(Path(pj.__file__).parent.glob("_pjsua2*.so"))))
        endpt = lib.pjsua_get_pjsip_endpt
        create = lib.pjsip_endpt_create_response
        send = lib.pjsip_tsx_send_msg
    except (StopIteration, OSError, AttributeError):
        return None
    endpt.restype, endpt.argtypes = ctypes.c_void_p, []
    create.restype = ctypes.c_int
    create.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    send.restype, send.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]

    def respond(tsx: int, rdata: int, code: int) -> bool:
        tdata = ctypes.c_void_p()
        if create(endpt(), rdata, code, None, ctypes.byref(tdata)) != 0 or not tdata.value:
            return False
        return bool(send(tsx, tdata) == 0)

    return respond
