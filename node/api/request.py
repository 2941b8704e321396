"""The one reader of control API requests: the API key and the JSON body, for every route (sendalert and the
other job routes, ``/api/events``, the operations routes).

The key comes from ``Authorization: Bearer <key>``, else ``X-Api-Key``, else (JSON bodies only) the body's
``apiKey``. Refusals are :class:`~alertnode.errors.ApiError` with their HTTP status and JSON path:

* body larger than ``max_body_bytes``: 413, before the key is looked at (a declared length: before the body is
  read; a chunked body: as soon as it passes the limit);
* no accepted key: 401 at ``apiKey`` for a body route, at ``Authorization`` for a route without a body;
* a body that is not JSON, or not a JSON object: 400 at ``(body)`` (only with an accepted key, so a caller
  without one learns nothing about the API);
* a body its model refuses: 400 with every problem at its JSON path.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from alertnode.api.auth import KeyRing
from alertnode.contract.problems import validation_problems
from alertnode.errors import ApiError, Problem

M = TypeVar("M", bound=BaseModel)


def presented_key(request: Request) -> str | None:
    """The key in the headers (``Authorization: Bearer``, else ``X-Api-Key``), if any."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("x-api-key")


class RequestReader:
    def __init__(self, keys: KeyRing, max_body_bytes: int) -> None:
        self.keys = keys
        self.max_body_bytes = max_body_bytes

    def require_key(self, request: Request) -> str:
        """The accepted key of a request without a body (GET, or POST of a command)."""
        key = presented_key(request)
        if key is None or not self.keys.check(key):
            raise ApiError("missing or wrong API key", [Problem("Authorization", "not accepted")], 401)
        return key

    async def _read(self, request: Request) -> bytes:
        limit = self.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ApiError(f"request body larger than {limit} bytes", [], http_status=413)
        # counted while it arrives: a chunked body (no Content-Length) is refused at the limit, not held whole
        received = bytearray()
        async for chunk in request.stream():
            received += chunk
            if len(received) > limit:
                raise ApiError(f"request body larger than {limit} bytes", [], http_status=413)
        body = bytes(received)
        request._body = body  # Starlette's own cache: request.body() answers it from now on
        return body

    async def body(self, request: Request) -> tuple[str, dict[str, Any], bytes]:
        """The accepted key, the body as a JSON object and its bytes."""
        body = await self._read(request)
        try:
            raw = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._check(presented_key(request))
            raise ApiError("request body is not valid JSON", [Problem("(body)", str(exc))]) from None
        key = presented_key(request)
        if key is None and isinstance(raw, dict) and isinstance(raw.get("apiKey"), str):
            key = raw["apiKey"]
        key = self._check(key)
        if not isinstance(raw, dict):
            raise ApiError("request body must be a JSON object", [Problem("(body)", "not an object")])
        return key, raw, body

    async def parse(self, request: Request, model: type[M]) -> M:
        """The body validated by ``model`` (strict JSON validation, as the contract models expect). With the key
        in a header the body is parsed once, by the model (the hot path of every client that sends one)."""
        key = presented_key(request)
        if key is None:  # the key may be in the body: read it as JSON first
            _, _, body = await self.body(request)
        else:
            body = await self._read(request)
            self._check(key)
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors()
            if errors and errors[0]["loc"] == () and errors[0]["type"] == "json_invalid":
                raise ApiError("request body is not valid JSON",
                               [Problem("(body)", str(errors[0]["msg"]).removeprefix("Invalid JSON: "))]) from None
            if errors and errors[0]["loc"] == () and errors[0]["type"] == "model_type":
                raise ApiError("request body must be a JSON object", [Problem("(body)", "not an object")]) from None
            raise ApiError("the request is not valid", validation_problems(exc)) from None

    def _check(self, key: str | None) -> str:
        if key is None or not self.keys.check(key):
            raise ApiError("missing or wrong API key", [Problem("apiKey", "not accepted")], 401)
        return key
