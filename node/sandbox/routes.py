"""The sandbox extension of the control listener: the sandbox phone page and its JSON, behind the API key.

    GET  /sandbox                                  the page (static; it holds no data and needs no key to load)
    GET  /api/sandbox/phone?since=V&wait=S         per recipient their texts, e-mails and calls; waits up to S
                                                   seconds (≤ 30) for the book to move past version V (long poll)
    POST /api/sandbox/sms/{id}/reply      {"text"} reply to a text: an SMS from the phone to its sender
    POST /api/sandbox/email/{id}/reply    {"text"} reply to an e-mail, into the node's SMTP listener
    POST /api/sandbox/calls/{id}/answer | decline | hangup
    POST /api/sandbox/calls/{id}/keys     {"digits"} press keys on an answered call (RFC 4733)
    GET  /api/sandbox/calls/{id}/recording          what the phone heard, as a WAV file

Refusals are the control API's: 401 without the key, 400/404/409 with the JSON path of the fault. Every response
of the control listener carries ``X-Alertnode-Sandbox: true`` while the node runs in sandbox mode.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alertnode.api.extension import Extension, ExtensionContext
from alertnode.domain_info import MailInfo
from alertnode.errors import ApiError, ChannelError, Problem
from alertnode.sandbox import page
from alertnode.sandbox.book import as_dict
from alertnode.sandbox.phone import DIGITS
from alertnode.sandbox.runtime import Sandbox

LONG_POLL_MAX_S = 30.0
HEADER = (b"x-alertnode-sandbox", b"true")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    apiKey: str | None = None


class ReplyBody(_Body):
    text: str = Field(..., min_length=1, max_length=5000, description="What the person writes back.")


class KeysBody(_Body):
    digits: str = Field(..., pattern=DIGITS.pattern, description="Keys pressed: 0-9, *, #, A-D (RFC 4733).")


class SandboxMarker:
    """ASGI middleware: every response says the node is a sandbox."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), HEADER]}
            await send(message)

        await self.app(scope, receive, marked)


def wav_bytes(data: bytes) -> bytes:
    """A WAV file still being written has sizes of 0 in its header: set them from the bytes there are (RIFF:
    the size at offset 4; the ``data`` chunk's size after its id)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    out = bytearray(data)
    out[4:8] = struct.pack("<I", len(data) - 8)
    at = 12
    while at + 8 <= len(data):
        chunk, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        if chunk == b"data":
            out[at + 4 : at + 8] = struct.pack("<I", len(data) - at - 8)
            break
        at += 8 + size + (size & 1)
    return bytes(out)


def _not_found(kind: str, path: str) -> ApiError:
    return ApiError(f"no such {kind}", [Problem(path, "unknown in this sandbox")], 404)


class SandboxExtension(Extension):
    name = "sandbox"

    def __init__(self, sandbox: Sandbox, ctx: ExtensionContext) -> None:
        self.sandbox = sandbox
        self.ctx = ctx

    def info(self) -> Mapping[str, Any]:
        return self.sandbox.info()

    async def start(self) -> None:
        for channel in self.ctx.channels:
            typed = channel.info().typed
            if isinstance(typed, MailInfo) and typed.listener.socket is not None and typed.listener.socket.address:
                self.sandbox.listening(typed.listener.socket.address)

    def routes(self, app: FastAPI) -> None:
        app.add_middleware(SandboxMarker)
        sandbox, requests = self.sandbox, self.ctx.requests
        html = page.page()

        @app.get("/sandbox", include_in_schema=False)
        async def sandbox_page() -> HTMLResponse:
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})

        @app.get("/api/sandbox/phone", tags=["sandbox"])
        async def phone(request: Request, since: int = -1, wait: float = 0) -> JSONResponse:
            """Per recipient the texts, e-mails and calls the sandbox peers received (most recent first). With
            `since` and `wait`, the answer waits up to `wait` seconds for a version past `since`."""
            requests.require_key(request)
            if not 0 <= wait <= LONG_POLL_MAX_S:
                raise ApiError("bad long poll", [Problem("wait", f"must be 0 to {LONG_POLL_MAX_S:.0f} seconds")])
            version = await sandbox.wait_change(since, wait) if wait else sandbox.book.version
            return JSONResponse({"success": True, "version": version, "sandbox": sandbox.info(),
                                 "recipients": sandbox.book.recipients()}, headers={"Cache-Control": "no-store"})

        @app.post("/api/sandbox/sms/{sms_id}/reply", tags=["sandbox"])
        async def sms_reply(request: Request, sms_id: str) -> JSONResponse:
            """The phone replies to the text `sms_id`: an SMS (MO) from its number to the text's sender."""
            body = await requests.parse(request, ReplyBody)
            try:
                record = await sandbox.reply_sms(sms_id, body.text)
            except LookupError:
                raise _not_found("text", "smsId") from None
            return JSONResponse({"success": record.status == "sent", "sms": as_dict(record)})

        @app.post("/api/sandbox/email/{mail_id}/reply", tags=["sandbox"])
        async def mail_reply(request: Request, mail_id: str) -> JSONResponse:
            """The mailbox replies to the e-mail `mail_id`, into the node's own SMTP listener."""
            body = await requests.parse(request, ReplyBody)
            try:
                record = await sandbox.reply_mail(mail_id, body.text)
            except LookupError:
                raise _not_found("e-mail", "emailId") from None
            result = record.replies[-1]["result"] if record.replies else ""
            return JSONResponse({"success": str(result).startswith("taken"), "email": as_dict(record)})

        async def command(request: Request, call_id: str, name: str, digits: str = "") -> JSONResponse:
            try:
                record = sandbox.call_command(call_id, name, digits)
            except LookupError:
                raise _not_found("call", "callId") from None
            except ValueError as exc:
                raise ApiError(f"cannot {name} this call", [Problem("callId", str(exc))], 409) from None
            except ChannelError as exc:
                raise ApiError(f"cannot {name} this call", [Problem("callId", str(exc))], 503) from None
            return JSONResponse({"success": True, "call": as_dict(record)})

        @app.post("/api/sandbox/calls/{call_id}/answer", tags=["sandbox"])
        async def answer(request: Request, call_id: str) -> JSONResponse:
            """Answer a ringing call."""
            requests.require_key(request)
            return await command(request, call_id, "answer")

        @app.post("/api/sandbox/calls/{call_id}/decline", tags=["sandbox"])
        async def decline(request: Request, call_id: str) -> JSONResponse:
            """Decline a ringing call (486 Busy Here)."""
            requests.require_key(request)
            return await command(request, call_id, "decline")

        @app.post("/api/sandbox/calls/{call_id}/hangup", tags=["sandbox"])
        async def hangup(request: Request, call_id: str) -> JSONResponse:
            """Hang up (or reject, while it rings)."""
            requests.require_key(request)
            return await command(request, call_id, "hangup")

        @app.post("/api/sandbox/calls/{call_id}/keys", tags=["sandbox"])
        async def keys(request: Request, call_id: str) -> JSONResponse:
            """Press keys on an answered call: sent as RFC 4733 telephone-events."""
            body = await requests.parse(request, KeysBody)
            return await command(request, call_id, "keys", body.digits.upper())

        @app.get("/api/sandbox/calls/{call_id}/recording", tags=["sandbox"])
        async def recording(request: Request, call_id: str) -> Response:
            """What the phone heard on the call, as a WAV file (8 kHz, 16-bit mono; growing while the call lasts)."""
            requests.require_key(request)
            path = sandbox.recording(call_id)
            if path is None:
                raise _not_found("recording", "callId")
            return Response(wav_bytes(path.read_bytes()), media_type="audio/wav",
                            headers={"Cache-Control": "no-store"})


def create(sandbox: Sandbox, ctx: ExtensionContext) -> SandboxExtension:
    return SandboxExtension(sandbox, ctx)
