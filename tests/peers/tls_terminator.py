"""A real TLS terminator in front of a plain TCP peer: stunnel4 (Debian) in server mode on a free
127.0.0.1 port, with certificates made here (``cryptography``): a test CA, a server certificate it signed
for a given name, a client certificate it signed (for peers that require one), and a second CA that
signed nothing the server shows (a CA file that fails verification)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name)).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, name: str, usage: x509.ObjectIdentifier,
          sans: list[x509.GeneralName]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pki(directory: Path, server_name: str = "smsc.test") -> Pki:
    """A CA, a server certificate for ``server_name`` only (not 127.0.0.1), a client certificate, and an
    unrelated CA."""
    ca, ca_key = _ca("alertnode test CA")
    other, _ = _ca("someone else's CA")
    server, server_key = _leaf(ca, ca_key, server_name, ExtendedKeyUsageOID.SERVER_AUTH,
                               [x509.DNSName(server_name)])
    client, client_key = _leaf(ca, ca_key, "alertnode ESME", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return Pki(
        ca=_write_cert(ca, directory / "ca.crt"),
        other_ca=_write_cert(other, directory / "other-ca.crt"),
        server_cert=_write_cert(server, directory / "server.crt"),
        server_key=_write_key(server_key, directory / "server.key"),
        client_cert=_write_cert(client, directory / "client.crt"),
        client_key=_write_key(client_key, directory / "client.key"),
    )


class Stunnel:
    """stunnel4 accepting TLS on ``port`` and forwarding the plain bytes to 127.0.0.1:``target``."""

    def __init__(self, directory: Path, target: int, pki: Pki, *, require_client_cert: bool = False) -> None:
        binary = shutil.which("stunnel4") or shutil.which("stunnel")
        if binary is None:
            raise RuntimeError("stunnel4 is not installed (Debian package stunnel4; tools/setup.sh test)")
        self.port = free_port()
        self.log_path = directory / f"stunnel-{self.port}.log"
        lines = [
            "foreground = yes",
            f"output = {self.log_path}",
            "debug = 5",
            "[smpp]",
            f"accept = 127.0.0.1:{self.port}",
            f"connect = 127.0.0.1:{target}",
            f"cert = {pki.server_cert}",
            f"key = {pki.server_key}",
        ]
        if require_client_cert:
            lines += [f"CAfile = {pki.ca}", "verifyChain = yes", "requireCert = yes"]
        conf = directory / f"stunnel-{self.port}.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stunnel exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"stunnel did not come up: {self.log()}") from None
                time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
