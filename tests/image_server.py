"""A real HTTP server on 127.0.0.1 serving images (and the ways fetching one goes wrong) for the image_url tests:
a valid PNG, JPEG, GIF and WebP, an oversized one (with and without a Content-Length), a text file, a 404, redirect
chains and loops, and an answer that never comes."""

from __future__ import annotations

import contextlib
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid, decodable RGB PNG of one colour (PNG spec §§5, 11: signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40 + b"\xff\xd9"
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
       b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"


class ImageServer:
    """``routes``: path -> (status, headers, body); ``/slow`` never answers until the server stops; requests are
    logged with their headers (to check that no credentials or cookies were sent)."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]] | None = None) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {
            "/red.png": (200, {"Content-Type": "image/png"}, png()),
            "/photo.jpg": (200, {"Content-Type": "image/jpeg"}, JPEG),
            "/anim.gif": (200, {"Content-Type": "image/gif"}, GIF),
            "/pic.webp": (200, {"Content-Type": "image/webp"}, WEBP),
            "/big.png": (200, {"Content-Type": "image/png"}, png() + b"\x00" * 3_000_000),
            "/text.png": (200, {"Content-Type": "image/png"}, b"<html>not an image</html>"),
            "/missing.png": (404, {}, b"not here"),
            "/hop1": (302, {"Location": "/hop2"}, b""),
            "/hop2": (301, {"Location": "/red.png"}, b""),
            "/loop-a": (302, {"Location": "/loop-b"}, b""),
            "/loop-b": (302, {"Location": "/loop-a"}, b""),
            "/far1": (302, {"Location": "/far2"}, b""),
            "/far2": (302, {"Location": "/far3"}, b""),
            "/far3": (302, {"Location": "/far4"}, b""),
            "/far4": (302, {"Location": "/red.png"}, b""),
            "/to-ftp": (302, {"Location": "ftp://127.0.0.1/x.png"}, b""),
            **(routes or {}),
        }
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.requests.append({"path": self.path, "headers": dict(self.headers)})
                if self.path == "/slow":
                    server._stop.wait(30)
                    return
                if self.path == "/stream.png":  # no Content-Length: 3 MB until the connection closes
                    self.send_response(200)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(png() + b"\x00" * 3_000_000)
                    return
                status, headers, body = server.routes.get(self.path, (404, {}, b"no such path"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client stopped reading
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
