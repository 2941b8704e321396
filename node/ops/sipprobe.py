"""Just enough SIP (RFC 3261) for ``alertnode doctor``: build a REGISTER or OPTIONS, read a response,
answer a digest challenge (RFC 2617 / RFC 7616 with MD5, qop=auth). Pure: no sockets here."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))')


@dataclass(frozen=True)
class SipResponse:
    code: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


# RFC 3261 §7.3.3 compact header forms the doctor may meet
_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length"}


def parse_response(data: bytes) -> SipResponse | None:
    """The status line and headers of a SIP response; None for anything else (a request, garbage)."""
    try:
        text = data.decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 (decode with replace does not fail; be safe on odd input)
        return None
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)$", lines[0])
    if m is None:
        return None
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if ":" not in line:
            continue
        name, value = line.split(":", 1)
        key = name.strip().lower()
        headers.setdefault(_COMPACT.get(key, key), []).append(value.strip())
    return SipResponse(int(m.group(1)), m.group(2).strip(), headers)


def parse_challenge(value: str) -> dict[str, str]:
    """``Digest realm="x", nonce="y", qop="auth"`` -> {"realm": "x", ...} (scheme under "scheme")."""
    scheme, _, rest = value.strip().partition(" ")
    out = {"scheme": scheme}
    for m in _PARAM.finditer(rest):
        out[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return out


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 (MD5 is what RFC 2617 digest uses)


def digest_authorization(challenge: dict[str, str], method: str, uri: str, username: str, password: str,
                         cnonce: str, nc: int = 1) -> str:
    """The Authorization header value answering ``challenge`` (RFC 2617 §3.2.2, MD5 only)."""
    realm = challenge.get("realm", "")
    nonce = challenge.get("nonce", "")
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in qops:
        ncs = f"{nc:08x}"
        response = _md5(f"{ha1}:{nonce}:{ncs}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', "algorithm=MD5", f'cnonce="{cnonce}"', "qop=auth", f"nc={ncs}"]
    else:
        parts += [f'response="{_md5(f"{ha1}:{nonce}:{ha2}")}"', "algorithm=MD5"]
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)


@dataclass(frozen=True)
class Request:
    method: str
    uri: str
    user: str
    domain: str
    local: tuple[str, int]
    call_id: str
    from_tag: str
    branch: str
    cseq: int
    authorization: tuple[str, str] | None = None
    """(header name, value): Authorization after a 401, Proxy-Authorization after a 407."""

    def encode(self) -> bytes:
        host, port = self.local
        lines = [
            f"{self.method} {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {host}:{port};branch={self.branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{self.domain}>;tag={self.from_tag}",
            f"To: <sip:{self.user}@{self.domain}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {self.method}",
            f"Contact: <sip:{self.user}@{host}:{port}>",
            "User-Agent: alertnode-doctor",
        ]
        if self.method == "REGISTER":
            # Expires 0 for the doctor's own contact: it checks the credentials and leaves the node's
            # registration (a different contact) alone (RFC 3261 §10.2.2)
            lines.append("Expires: 0")
        if self.authorization is not None:
            lines.append(f"{self.authorization[0]}: {self.authorization[1]}")
        lines += ["Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode("utf-8")
