"""SIP messages as far as a stateless proxy needs them (RFC 3261 §7, §18.3, §20.42): the start line,
the headers in their order (compact names understood), the body as bytes, the Via header's parts.
Pure: no sockets; parsing errors raise :class:`SipParseError`.

A message is changed only where the proxy must (Via, Max-Forwards); every other header is sent on
as it came, so what the PBX wrote reaches the worker untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alertnode.errors import ChannelError

# RFC 3261 §7.3.3 compact forms
_COMPACT = {
    "v": "via",
    "i": "call-id",
    "f": "from",
    "t": "to",
    "l": "content-length",
    "m": "contact",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
}
MAX_MESSAGE = 65535  # the largest UDP datagram (RFC 3261 §18.1.1 lets SIP use all of it)


class SipParseError(ChannelError):
    """Bytes that are no SIP message this module can forward."""


def canonical(name: str) -> str:
    low = name.strip().lower()
    return _COMPACT.get(low, low)


@dataclass
class SipMessage:
    first: str
    """The start line: ``INVITE sip:x@y SIP/2.0`` or ``SIP/2.0 200 OK``."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    """(name as written, value) in order; a header given on several lines appears several times."""
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.first.startswith("SIP/")

    @property
    def method(self) -> str:
        """The request's method, or the method a response answers (from CSeq)."""
        if self.is_request:
            return self.first.split(" ", 1)[0].upper()
        return self.cseq_method

    @property
    def status(self) -> int:
        parts = self.first.split(" ", 2)
        try:
            return int(parts[1])
        except (IndexError, ValueError) as exc:
            raise SipParseError(f"bad status line {self.first!r}") from exc

    @property
    def cseq_method(self) -> str:
        parts = self.get("cseq").split()
        return parts[1].upper() if len(parts) == 2 else ""

    @property
    def call_id(self) -> str:
        return self.get("call-id")

    def get(self, name: str) -> str:
        """The first value of a header ("" when absent)."""
        want = canonical(name)
        for head, value in self.headers:
            if canonical(head) == want:
                return value
        return ""

    def has_to_tag(self) -> bool:
        return _param(self.get("to"), "tag") is not None

    def from_tag(self) -> str:
        return _param(self.get("from"), "tag") or ""

    def vias(self) -> list[str]:
        """Every Via value, top first (a header may carry several, separated by commas)."""
        out: list[str] = []
        for head, value in self.headers:
            if canonical(head) == "via":
                out.extend(v.strip() for v in _split_commas(value) if v.strip())
        return out

    def push_via(self, via: str) -> None:
        """Put a Via on top (RFC 3261 §16.6 step 8)."""
        at = next((i for i, (h, _) in enumerate(self.headers) if canonical(h) == "via"), 0)
        self.headers.insert(at, ("Via", via))

    def pop_via(self) -> str:
        """Take the top Via off (RFC 3261 §16.7 step 3); raises SipParseError when there is none."""
        for i, (head, value) in enumerate(self.headers):
            if canonical(head) != "via":
                continue
            values = [v.strip() for v in _split_commas(value) if v.strip()]
            if len(values) > 1:
                self.headers[i] = (head, ", ".join(values[1:]))
            else:
                del self.headers[i]
            if not values:
                raise SipParseError("an empty Via header")
            return values[0]
        raise SipParseError("no Via header")

    def replace_top_via(self, via: str) -> None:
        self.pop_via()
        self.push_via(via)

    def set(self, name: str, value: str) -> None:
        """Set the first header of this name, or add it."""
        want = canonical(name)
        for i, (head, _) in enumerate(self.headers):
            if canonical(head) == want:
                self.headers[i] = (head, value)
                return
        self.headers.append((name, value))

    def to_bytes(self) -> bytes:
        lines = [self.first, *(f"{h}: {v}" for h, v in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + self.body


def parse(data: bytes) -> SipMessage:
    """One whole message (a UDP datagram, or one framed off a TCP stream by :func:`frame_length`)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("no end of headers")
    text = head.decode("utf-8", "surrogateescape")
    lines = text.split("\r\n")
    first = lines[0].strip()
    if not first or (not first.startswith("SIP/2.0 ") and not first.endswith(" SIP/2.0")):
        raise SipParseError("not a SIP start line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded onto the line before (RFC 3261 §7.3.1)
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipParseError(f"bad header line {line[:40]!r}")
        headers.append((name.strip(), value.strip()))
    msg = SipMessage(first, headers, body)
    length = msg.get("content-length")
    if length:
        try:
            n = int(length)
        except ValueError as exc:
            raise SipParseError("bad Content-Length") from exc
        msg.body = body[:n]
    return msg


def frame_length(buffer: bytes) -> int | None:
    """The length of the first whole message in a TCP stream's ``buffer`` (RFC 3261 §18.3: on a
    stream, Content-Length is mandatory), or None until it has all arrived."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_MESSAGE:
            raise SipParseError("headers longer than a message may be")
        return None
    length = 0
    for line in buffer[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if canonical(name.decode("latin-1")) == "content-length":
            try:
                length = int(value.strip())
            except ValueError as exc:
                raise SipParseError("bad Content-Length") from exc
    total = end + 4 + length
    return total if len(buffer) >= total else None


@dataclass(frozen=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=z9hG4bK...;rport;received=...`` (RFC 3261 §20.42)."""

    transport: str
    host: str
    port: int | None
    params: tuple[tuple[str, str | None], ...]

    @classmethod
    def parse(cls, text: str) -> Via:
        proto, _, rest = text.strip().partition(" ")
        parts = proto.split("/")
        if len(parts) != 3 or parts[0].upper() != "SIP":
            raise SipParseError(f"bad Via {text[:60]!r}")
        sent_by, *raw = [p.strip() for p in rest.split(";")]
        host, port = _host_port(sent_by)
        params: list[tuple[str, str | None]] = []
        for p in raw:
            if not p:
                continue
            key, eq, value = p.partition("=")
            params.append((key.strip().lower(), value.strip() if eq else None))
        return cls(parts[2].upper(), host, port, tuple(params))

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value if value is not None else ""
        return None

    @property
    def branch(self) -> str:
        return self.param("branch") or ""

    def with_params(self, **values: str) -> Via:
        """This Via with parameters set (``received``, ``rport``), others kept in their order."""
        params = [(k, values.pop(k) if k in values else v) for k, v in self.params]
        params.extend(values.items())
        return Via(self.transport, self.host, self.port, tuple(params))

    def reply_to(self) -> tuple[str, int]:
        """Where a response to this hop goes (RFC 3261 §18.2.2, RFC 3581 §4): ``received`` or the
        sent-by host; the ``rport`` value, or the sent-by port, or 5060."""
        host = self.param("received") or self.host
        rport = self.param("rport")
        if rport:
            return host, int(rport)
        return host, self.port or 5060

    def __str__(self) -> str:
        sent_by = f"{self.host}:{self.port}" if self.port else self.host
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params)
        return f"SIP/2.0/{self.transport} {sent_by}{params}"


def _host_port(sent_by: str) -> tuple[str, int | None]:
    if sent_by.startswith("["):  # IPv6 reference (RFC 3261 §25.1)
        host, _, rest = sent_by[1:].partition("]")
        port = rest.lstrip(":")
    else:
        host, _, port = sent_by.partition(":")
    try:
        return host, int(port) if port else None
    except ValueError as exc:
        raise SipParseError(f"bad sent-by {sent_by!r}") from exc


def _param(value: str, name: str) -> str | None:
    """A header parameter (``;tag=...``) outside the <URI> (RFC 3261 §20.10)."""
    rest = value.rsplit(">", 1)[-1] if "<" in value else value.split(";", 1)[-1] if ";" in value else ""
    for p in rest.split(";"):
        key, _, v = p.strip().partition("=")
        if key.lower() == name:
            return v.strip()
    return None


def _split_commas(value: str) -> list[str]:
    """Split a header's comma-separated values, not inside quotes or <...>."""
    out: list[str] = []
    cur: list[str] = []
    depth, quoted = 0, False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        if ch == "," and not quoted and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def response(request: SipMessage, code: int, reason: str, to_tag: str = "") -> SipMessage:
    """A response to ``request`` made by the proxy itself (RFC 3261 §8.2.6): Via, From, To (with a tag
    for a final answer), Call-ID and CSeq copied, no body."""
    headers: list[tuple[str, str]] = [(h, v) for h, v in request.headers if canonical(h) == "via"]
    for name, written in (("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq")):
        value = request.get(name)
        if name == "to" and to_tag and not request.has_to_tag():
            value = f"{value};tag={to_tag}"
        headers.append((written, value))
    headers.append(("Content-Length", "0"))
    return SipMessage(f"SIP/2.0 {code} {reason}", headers)
