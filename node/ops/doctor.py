"""``alertnode doctor``: check the configuration, the data directory and every configured peer, and
say in plain words what is wrong and how to fix it.

Each check returns :class:`Finding` objects; nothing here raises for a broken peer. Peers are reached
the way the node reaches them, but briefly: an SMPP bind and unbind (smpplib), a SIP REGISTER with
``Expires: 0`` answering the digest challenge (or an OPTIONS ping in trunk mode), an SMTP EHLO (and
STARTTLS/AUTH when configured) at the smarthost.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import smtplib
import socket
import ssl
import time
import urllib.request
import uuid
import warnings
from dataclasses import dataclass

from alertnode.config import Config
from alertnode.errors import StoreError
from alertnode.mail.config import MailConfig
from alertnode.ops import sipprobe
from alertnode.sms.config import SmppLinkConfig
from alertnode.store.db import inspect
from alertnode.voice.config import VoiceConfig

# SMPP 3.4 §5.1.3 command_status values a bind can answer, with what they mean for the operator
_BIND_ERRORS: dict[int, tuple[str, str]] = {
    0x05: ("the SMSC says this system_id is already bound (the running node may hold the only bind allowed)",
           "stop the node before running doctor, or ask the SMSC operator to allow more than one bind"),
    0x0D: ("the SMSC refused the bind (ESME_RBINDFAIL)",
           "ask the SMSC operator whether this account is enabled and this host's address is allowed"),
    0x0E: ("the SMSC refused the password (ESME_RINVPASWD)",
           "set the right bind password in {path}.password or the environment variable "
           "ALERTNODE__{env}__password"),
    0x0F: ("the SMSC does not know this system_id (ESME_RINVSYSID)",
           "check {path}.system_id against the account the SMSC operator gave you"),
}


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str
    fix: str = ""


def check_data_dir(cfg: Config) -> list[Finding]:
    path = cfg.data_path()
    name = f"data directory {path}"
    if not path.exists():
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if os.access(parent, os.W_OK | os.X_OK):
            return [Finding(name, True, "does not exist yet; the node creates it at its first start")]
        return [Finding(name, False, f"does not exist and cannot be created ({parent} is not writable for this user)",
                        f"create it for the service user: install -d -m 0700 -o alertnode -g alertnode {path} "
                        "(under systemd, StateDirectory=alertnode does this)")]
    if not path.is_dir():
        return [Finding(name, False, "is not a directory", "set node.data_dir to a directory")]
    out: list[Finding] = []
    probe = path / f".doctor-{secrets.token_hex(4)}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return [Finding(name, False, f"is not writable for this user ({exc.strerror})",
                        f"give it to the user the node runs as: chown -R alertnode:alertnode {path}")]
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        out.append(Finding(name, False, f"is readable by other users (mode {mode:o}); it holds the store key",
                           f"chmod 0700 {path}"))
    db = path / "alertnode.db"
    if db.exists():
        if not (path / "secret.key").exists():
            out.append(Finding(name, False, "the store exists but secret.key is missing: its contact data "
                               "cannot be decrypted", f"restore secret.key from your backup into {path}"))
        try:
            verdict, alerts = inspect(db)
        except StoreError as exc:
            out.append(Finding(name, False, f"the store {db} cannot be read: {exc}",
                               "restore it from a backup taken with `alertnode backup`"))
        else:
            if verdict != "ok":
                out.append(Finding(name, False, f"the store {db} is damaged ({verdict})",
                                   "stop the node and restore it from a backup taken with `alertnode backup`"))
            else:
                out.append(Finding(name, True, f"writable; store intact ({alerts} alert(s))"))
    else:
        out.append(Finding(name, True, "writable; no store yet (created at the first start)"))
    return out


def check_smpp_link(index: int, link: SmppLinkConfig, timeout: float) -> Finding:
    import smpplib.client
    import smpplib.exceptions

    name = f'sms link "{link.name}" ({link.host}:{link.port})'
    path = f"sms.links[{index}]"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client = smpplib.client.Client(link.host, link.port, timeout=timeout, allow_unknown_opt_params=True,
                                       logger_name="alertnode.ops.doctor.smpp")
    try:
        try:
            client.connect()
        except smpplib.exceptions.ConnectionError:
            return Finding(name, False,
                           f"cannot reach the SMSC: nothing accepts connections at {link.host}:{link.port}",
                           f"check {path}.host and {path}.port, that the SMSC is running, and that no firewall "
                           "blocks this host")
        bind = client.bind_transceiver if link.bind_mode == "transceiver" else client.bind_transmitter
        try:
            bind(system_id=link.system_id, password=link.password, system_type=link.system_type,
                 addr_ton=link.addr_ton, addr_npi=link.addr_npi, address_range=link.address_range)
        except smpplib.exceptions.PDUError as exc:
            status = int(exc.args[1]) if len(exc.args) > 1 else -1
            what, fix = _BIND_ERRORS.get(status, (f"the SMSC refused the bind with status 0x{status:02X}",
                                                  "ask the SMSC operator what this status means for your account"))
            return Finding(name, False, what, fix.format(path=path, env=f"sms__links__{index}"))
        except (smpplib.exceptions.ConnectionError, OSError):
            return Finding(name, False, f"connected, but no answer to the bind within {timeout:g} s "
                           "(is this an SMPP port? does it expect TLS?)",
                           f"check {path}.port with the SMSC operator")
        with contextlib.suppress(smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
            client.unbind()
        return Finding(name, True, f"bound as {link.system_id} ({link.bind_mode}) and unbound")
    finally:
        with contextlib.suppress(Exception):
            client.disconnect()


def _node_answers(host: str, port: int, timeout: float) -> bool:
    """Whether an alertnode control listener answers /healthz there (the node is running)."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)  # noqa: S104
    url_host = f"[{target}]" if ":" in target else target
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(f"http://{url_host}:{port}/healthz", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (OSError, ValueError):
        return False


def check_listener(name: str, key: str, host: str, port: int, control: tuple[str, int], timeout: float) -> Finding:
    """Can the node bind this listening address? In use by the running node is fine."""
    label = f"{name} listener {host}:{port}"
    if port == 0:
        return Finding(label, True, "any free port (chosen at start)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except PermissionError:
            return Finding(label, False, f"this user may not bind port {port} (below 1024)",
                           "under systemd install systemd/port25.conf as a drop-in (grants CAP_NET_BIND_SERVICE only); "
                           f"or use a port above 1023 in {key} and forward to it")
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                if _node_answers(*control, timeout):
                    return Finding(label, True, "in use by the running alertnode")
                return Finding(label, False, f"port {port} is in use by another program",
                               f"find it with `ss -ltnp 'sport = :{port}'` and stop it, or change {key}")
            if exc.errno == errno.EADDRNOTAVAIL:
                return Finding(label, False, f"{host} is not an address of this machine",
                               f"set {key.replace('port', 'host')} to an address of this machine (or 127.0.0.1)")
            return Finding(label, False, f"cannot listen there ({exc.strerror})", f"check {key}")
    return Finding(label, True, "free")


def _hostport(value: str, default_port: int) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return value, default_port


def _sip_exchange(sock: socket.socket, req: sipprobe.Request, deadline: float) -> sipprobe.SipResponse | None:
    """Send ``req`` and wait for its final response, retransmitting as RFC 3261 §17.1.2.2 (T1 = 500 ms)."""
    data = req.encode()
    interval = 0.5
    while True:
        sock.send(data)
        resend_at = time.monotonic() + interval
        interval = min(interval * 2, 4.0)  # T2 = 4 s
        while True:
            left = min(resend_at, deadline) - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                packet = sock.recv(65535)
            except TimeoutError:
                break
            resp = sipprobe.parse_response(packet)
            if resp is None or resp.code < 200:
                continue
            cseq = resp.header("cseq") or ""
            if cseq.split(" ")[0] != str(req.cseq):
                continue
            return resp
        if time.monotonic() >= deadline:
            return None


def check_sip(cfg: VoiceConfig, timeout: float) -> Finding:
    registering = bool(cfg.registrar)
    target = cfg.registrar or cfg.trunk or cfg.proxy
    if not target:
        return Finding("sip", False, "voice is enabled but neither voice.registrar nor voice.trunk is set",
                       "set voice.registrar (PBX extension) or voice.trunk (SIP trunk)")
    host, port = _hostport(target, 5060)
    name = f"sip {'registrar' if registering else 'trunk'} {host}:{port}"
    if cfg.transport != "udp":
        return Finding(name, False, "not checked: doctor speaks SIP over UDP only (voice.transport is tcp)",
                       "check the PBX with the node itself (GET /readyz shows the registration)")
    domain = cfg.domain or host
    user = cfg.user or "alertnode"
    auth_user = cfg.auth_user or user
    try:
        addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as exc:
        return Finding(name, False, f"the name {host} does not resolve ({exc.strerror})",
                       "check voice.registrar / voice.trunk and DNS")
    with socket.socket(addr[0], socket.SOCK_DGRAM) as sock:
        sock.connect(addr[4])
        local = sock.getsockname()[:2]
        method = "REGISTER" if registering else "OPTIONS"
        uri = f"sip:{domain}" if registering else f"sip:{host}:{port}"
        req = sipprobe.Request(method, uri, user, domain, (local[0], local[1]), f"{uuid.uuid4().hex}@alertnode",
                               secrets.token_hex(6), "z9hG4bK" + secrets.token_hex(8), 1)
        deadline = time.monotonic() + timeout
        try:
            resp = _sip_exchange(sock, req, deadline)
            challenged = False
            while resp is not None and resp.code in (401, 407) and registering and not challenged:
                challenged = True
                header = "www-authenticate" if resp.code == 401 else "proxy-authenticate"
                challenge = sipprobe.parse_challenge(resp.header(header) or "")
                if cfg.realm != "*" and challenge.get("realm") != cfg.realm:
                    return Finding(name, False, f"the registrar asks for realm \"{challenge.get('realm')}\" but "
                                   f"voice.realm is \"{cfg.realm}\"", "set voice.realm to the realm above, or to *")
                auth = sipprobe.digest_authorization(challenge, method, uri, auth_user, cfg.password,
                                                     secrets.token_hex(8))
                req = sipprobe.Request(method, uri, user, domain, req.local, req.call_id, req.from_tag,
                                       "z9hG4bK" + secrets.token_hex(8), req.cseq + 1,
                                       ("Authorization" if resp.code == 401 else "Proxy-Authorization", auth))
                resp = _sip_exchange(sock, req, deadline)
        except ConnectionRefusedError:
            return Finding(name, False, f"nothing listens for SIP on UDP {host}:{port} (port unreachable)",
                           "check the host and port in voice.registrar / voice.trunk, and that the PBX runs")
    if resp is None:
        return Finding(name, False, f"no SIP answer from {host}:{port} over UDP within {timeout:g} s",
                       "check the address in voice.registrar / voice.trunk, that the PBX listens on UDP there, "
                       "and that no firewall drops SIP")
    if not registering:
        return Finding(name, True, f"answers SIP OPTIONS ({resp.code} {resp.reason})")
    if resp.code == 200:
        return Finding(name, True, f"accepted the credentials of {auth_user} for sip:{user}@{domain}")
    if resp.code in (401, 407):
        return Finding(name, False, f"the registrar refused the password of SIP user {auth_user} "
                       f"({resp.code} {resp.reason} after the credentials were sent)",
                       "set the password of this extension on the PBX in voice.password, or better in the "
                       "environment variable ALERTNODE__voice__password")
    if resp.code == 403:
        return Finding(name, False, f"the registrar forbids registering sip:{user}@{domain} (403 {resp.reason})",
                       "check voice.user, voice.auth_user and voice.domain against the PBX extension")
    if resp.code == 404:
        return Finding(name, False, f"the registrar does not know sip:{user}@{domain} (404)",
                       "check voice.user and voice.domain against the PBX extension")
    return Finding(name, False, f"the registrar answered {resp.code} {resp.reason}",
                   "look up this SIP status in the PBX's log for the reason")


def check_smarthost(cfg: MailConfig, timeout: float) -> Finding:
    host, port = cfg.smarthost_host, cfg.smarthost_port
    name = f"smarthost {host}:{port}"
    context = ssl.create_default_context(cafile=cfg.smarthost_ca_file or None)
    if not cfg.smarthost_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    smtp: smtplib.SMTP
    try:
        if cfg.smarthost_tls == "implicit":
            smtp = smtplib.SMTP_SSL(host, port, local_hostname=cfg.domain or None, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, local_hostname=cfg.domain or None, timeout=timeout)
    except (ConnectionRefusedError, socket.gaierror, TimeoutError, OSError) as exc:
        return Finding(name, False, f"cannot reach the smarthost ({exc.strerror or exc})",
                       "check mail.smarthost_host and mail.smarthost_port, that the mail server runs, and the firewall")
    try:
        code, _ = smtp.ehlo()
        if code != 250:
            return Finding(name, False, f"the smarthost answered EHLO with {code}", "check the smarthost's logs")
        notes = ["EHLO accepted"]
        if cfg.smarthost_tls in ("auto", "starttls") and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
            notes.append("STARTTLS done")
        elif cfg.smarthost_tls == "starttls":
            return Finding(name, False, "the smarthost does not offer STARTTLS but mail.smarthost_tls is starttls",
                           "enable STARTTLS on the smarthost, or set mail.smarthost_tls = \"auto\"")
        if cfg.smarthost_username:
            smtp.login(cfg.smarthost_username, cfg.smarthost_password.get_secret_value())
            notes.append(f"logged in as {cfg.smarthost_username}")
        return Finding(name, True, ", ".join(notes))
    except smtplib.SMTPAuthenticationError as exc:
        return Finding(name, False, f"the smarthost refused the login of {cfg.smarthost_username} ({exc.smtp_code})",
                       "set the right password in the environment variable ALERTNODE__mail__smarthost_password")
    except ssl.SSLError as exc:
        return Finding(name, False, f"TLS with the smarthost failed ({exc.reason})",
                       "give its CA in mail.smarthost_ca_file, or check the host name in mail.smarthost_host")
    except (smtplib.SMTPException, OSError) as exc:
        return Finding(name, False, f"the SMTP conversation failed ({exc})", "check the smarthost's logs")
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
        with contextlib.suppress(Exception):
            smtp.close()


def run(cfg: Config) -> list[Finding]:
    timeout = cfg.ops.doctor_timeout_s
    out = check_data_dir(cfg)
    control = (cfg.api.host, cfg.api.port)
    out.append(check_listener("control API", "api.port", cfg.api.host, cfg.api.port, control, timeout))
    out.append(check_listener("public", "public.port", cfg.public.host, cfg.public.port, control, timeout))
    if cfg.mail.configured and cfg.mail.listen_enabled:
        out.append(check_listener("SMTP", "mail.listen_port", cfg.mail.listen_host, cfg.mail.listen_port, control,
                                  timeout))
    for i, link in enumerate(cfg.sms.links):
        out.append(check_smpp_link(i, link, timeout))
    if cfg.voice.configured:
        out.append(check_sip(cfg.voice, timeout))
    if cfg.mail.configured:
        out.append(check_smarthost(cfg.mail, timeout))
    if not (cfg.sms.configured or cfg.voice.configured or cfg.mail.configured):
        out.append(Finding("channels", False, "no channel is configured: `alertnode serve` runs the sandbox "
                           "(nothing reaches anyone), with --no-sandbox it sends nothing",
                           "configure at least one of [sms] links, [mail] smarthost_host or [voice] enabled"))
    return out
