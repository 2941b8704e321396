"""SIP peers for the voice tests, started on 127.0.0.1 on free ports and stopped afterwards.

Fixtures (loaded by tests/conftest.py as a pytest plugin):

* ``sipp_uas``: ``sipp_uas("uas_press2.xml", calls=1) -> SippUas`` runs a SIPp UAS scenario from
  tools/peers/sipp/ (``.hostport``, ``.wait()`` returns SIPp's exit status: 0 = every call passed);
  ``cwd=`` another folder for the files the scenario plays (pcaps made at test time);
* ``sipp_uac``: ``sipp_uac("uac_inbound.xml", target="127.0.0.1:5160", service="+4411", ...)``;
* ``kamailio``: ``kamailio(forward_to="127.0.0.1:P", did_user="ivr1") -> Kamailio`` a registrar/proxy
  with digest auth (users ivr1/s3cret, ivr2/t0ps3cret); authenticated INVITEs to users ``sipp*`` go to
  ``forward_to``; INVITEs to ``+...`` numbers go to the registered ``did_user``;
* ``baresip_phone``: ``baresip_phone(audio_wav, codecs="PCMA,PCMU", record=None) -> Baresip`` an
  auto-answering phone with ctrl_tcp (``.command("sndcode", "2")``, ``hold``, ``resume``), recording
  what it hears into ``record`` (sndfile);
* ``voice_channel``: ``await voice_channel(real_prompts=False, **VoiceConfig overrides)`` ->
  ``(VoiceChannel, MemorySink)``; prompts are the WAV content as given, or with ``real_prompts`` the
  media prompt cache (espeak-ng TTS, decoding, resampling).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import soundfile as sf

from alertnode.domain import DeliveryState, DeliveryWork
from alertnode.voice.config import VoiceConfig
from tests.fakes import MemorySink

if TYPE_CHECKING:
    from alertnode.voice.channel import VoiceChannel

ROOT = Path(__file__).resolve().parents[2]
SIPP_DIR = ROOT / "tools" / "peers" / "sipp"
HOST = "127.0.0.1"


def free_udp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (SIP may use either)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((HOST, 0))
            port = int(u.getsockname()[1])
            try:
                with socket.socket() as t:
                    t.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def free_rtp_base(span: int) -> int:
    """The first of ``span`` consecutive UDP ports that are free now (even, as RTP wants)."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - span) & ~1
        socks = []
        try:
            for p in range(base, base + span):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((HOST, p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free RTP range")


# ------------------------------------------------------------------------------------------ SIPp


@dataclass
class SippUas:
    scenario: str
    port: int
    media_port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def hostport(self) -> str:
        return f"{HOST}:{self.port}"

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _sipp(
    tmp_path: Path, args: list[str], scenario: str, port: int, media_port: int, cwd: Path = SIPP_DIR
) -> SippUas:
    if shutil.which("sipp") is None:
        pytest.fail("sipp (Debian sip-tester) is not installed")
    log = tmp_path / f"sipp-{scenario}-{port}.log"
    cmd = [
        "sipp",
        "-sf",
        str(SIPP_DIR / scenario),
        "-i",
        HOST,
        "-p",
        str(port),
        "-mi",
        HOST,
        "-mp",
        str(media_port),
        "-nostdin",
        "-timeout",
        "90s",
        "-timeout_error",
        *args,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    uas = SippUas(scenario, port, media_port, proc, log)
    # SIPp binds its socket before reading the scenario's first message; give it a moment to bind
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return uas
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.fail(f"sipp exited at once: {uas.output()[-2000:]}")
    return uas


@pytest.fixture
def sipp_uas(tmp_path: Path) -> Iterator[Callable[..., SippUas]]:
    started: list[SippUas] = []

    def start(scenario: str, calls: int = 1, *extra: str, cwd: Path = SIPP_DIR) -> SippUas:
        uas = _sipp(tmp_path, ["-m", str(calls), *extra], scenario, free_udp_port(), free_rtp_base(8), cwd)
        started.append(uas)
        return uas

    yield start
    for uas in started:
        if uas.proc.poll() is None:
            uas.proc.terminate()
            try:
                uas.proc.wait(5)
            except subprocess.TimeoutExpired:
                uas.proc.kill()
                uas.proc.wait()


@pytest.fixture
def sipp_uac(tmp_path: Path) -> Iterator[Callable[..., SippUas]]:
    started: list[SippUas] = []

    def start(scenario: str, target: str, service: str, calls: int = 1, *extra: str) -> SippUas:
        uac = _sipp(
            tmp_path,
            [target, "-s", service, "-m", str(calls), *extra],
            scenario,
            free_udp_port(),
            free_rtp_base(8),
        )
        started.append(uac)
        return uac

    yield start
    for uac in started:
        if uac.proc.poll() is None:
            uac.proc.terminate()
            uac.proc.wait(5)


# ------------------------------------------------------------------------------------------ kamailio

_KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=2
listen=udp:127.0.0.1:{port}
auto_aliases=no
alias="127.0.0.1:{port}"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("auth", "nonce_expire", 300)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER") || (is_method("INVITE") && !has_totag() && $rU =~ "^sipp")) {{
        if ($fU == "ivr1") {{ $var(pw) = "s3cret"; }}
        else if ($fU == "ivr2") {{ $var(pw) = "t0ps3cret"; }}
        else {{ $var(pw) = ""; }}
        if (is_method("REGISTER")) {{
            if (!pv_auth_check("$fd", "$var(pw)", "0", "1")) {{ auth_challenge("$fd", "1"); exit; }}
            consume_credentials();
            if (!save("location")) {{ sl_reply_error(); }}
            xlog("L_INFO", "REGISTER $fU OK contact=$ct\\n");
            exit;
        }}
        if (!pv_auth_check("$fd", "$var(pw)", "0", "0")) {{ auth_challenge("$fd", "1"); exit; }}
        consume_credentials();
        xlog("L_INFO", "INVITE $fU -> $rU authenticated\\n");
        record_route();
        $du = "sip:{forward_to}";
        t_relay(); exit;
    }}
    if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
    if (is_method("INVITE") && !has_totag()) {{
        # a DID (+...) is routed to the node's registered user, like a PBX inbound route
        if ($rU =~ "^\\+") {{ $rU = "{did_user}"; }}
        if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
        record_route();
    }}
    if (has_totag()) {{ loose_route(); }}
    t_relay();
}}
"""


@dataclass
class Kamailio:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def hostport(self) -> str:
        return f"{HOST}:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Callable[..., Kamailio]]:
    started: list[Kamailio] = []

    def start(forward_to: str = "127.0.0.1:9", did_user: str = "ivr1") -> Kamailio:
        if shutil.which("kamailio") is None:
            pytest.fail("kamailio is not installed")
        port = free_udp_port()
        d = tmp_path / f"kamailio-{port}"
        d.mkdir()
        cfg = d / "kamailio.cfg"
        cfg.write_text(_KAMAILIO_CFG.format(port=port, forward_to=forward_to, did_user=did_user))
        log = d / "kamailio.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    "kamailio",
                    "-f",
                    str(cfg),
                    "-DD",
                    "-E",
                    "-P",
                    str(d / "kamailio.pid"),
                    "-Y",
                    str(d),
                    "-m",
                    "32",
                    "-M",
                    "8",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        k = Kamailio(port, proc, log)
        started.append(k)
        if not _udp_answers_options(port, 10):
            proc.kill()
            pytest.fail(f"kamailio did not start: {k.output()[-2000:]}")
        return k

    yield start
    for k in started:
        k.proc.terminate()
        try:
            k.proc.wait(5)
        except subprocess.TimeoutExpired:
            k.proc.kill()
            k.proc.wait()


def _udp_answers_options(port: int, timeout: float) -> bool:
    """Send OPTIONS until the server answers (RFC 3261 §11)."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        lport = s.getsockname()[1]
        s.settimeout(0.2)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            msg = (
                f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{lport};branch=z9hG4bKprobe{n}\r\n"
                f"From: <sip:probe@{HOST}>;tag=p{n}\r\nTo: <sip:{HOST}:{port}>\r\n"
                f"Call-ID: probe{n}@{HOST}\r\n"
                f"CSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
            s.sendto(msg.encode(), (HOST, port))
            try:
                data = s.recv(4096)
            except OSError:
                continue
            if data.startswith(b"SIP/2.0 200"):
                return True
    return False


# ------------------------------------------------------------------------------------------ baresip


@dataclass
class Baresip:
    port: int
    ctrl_port: int
    proc: subprocess.Popen[bytes]
    log: Path
    calls_seen: list[str] = field(default_factory=list)

    @property
    def hostport(self) -> str:
        return f"{HOST}:{self.port}"

    def command(self, command: str, params: str = "") -> dict[str, Any]:
        """One ctrl_tcp command (netstring-framed JSON)."""
        body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
        with socket.create_connection((HOST, self.ctrl_port), timeout=5) as s:
            s.sendall(str(len(body)).encode() + b":" + body + b",")
            buf = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                buf += s.recv(4096)
                while b":" in buf:
                    head, _, rest = buf.partition(b":")
                    n = int(head)
                    if len(rest) < n + 1:
                        break
                    msg = json.loads(rest[:n])
                    buf = rest[n + 1 :]
                    if msg.get("response"):
                        return dict(msg)
        raise TimeoutError(f"baresip did not answer {command}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def baresip_phone(tmp_path: Path) -> Iterator[Callable[..., Baresip]]:
    started: list[Baresip] = []

    def start(audio_wav: Path, codecs: str = "PCMA,PCMU", record: Path | None = None) -> Baresip:
        """``codecs``: what the phone answers with (G722 too); ``record``: a folder where baresip's
        sndfile module writes what the phone sends and receives (``dump-*-dec.wav`` is what it heard)."""
        if shutil.which("baresip") is None:
            pytest.fail("baresip is not installed")
        port, ctrl = free_udp_port(), free_udp_port()
        rtp = free_rtp_base(20)
        d = tmp_path / f"baresip-{port}"
        d.mkdir()
        (d / "accounts").write_text(f"<sip:bob@{HOST}:{port}>;regint=0;answermode=auto;audio_codecs={codecs}\n")
        recording = f"module\t\t\tsndfile.so\nsnd_path\t\t{record}\n" if record is not None else ""
        (d / "config").write_text(
            f"sip_listen\t\t{HOST}:{port}\nnet_interface\t\t{HOST}\naudio_player\t\taubridge,nil\n"
            f"audio_source\t\taufile,{audio_wav}\naudio_alert\t\taubridge,nil\n"
            f"rtp_ports\t\t{rtp}-{rtp + 19}\n"
            "module_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\nmodule\t\t\tg722.so\n"
            f"module\t\t\taufile.so\n{recording}"
            "module\t\t\taubridge.so\nmodule_app\t\taccount.so\nmodule_app\t\tmenu.so\n"
            f"module_app\t\tctrl_tcp.so\nctrl_tcp_listen\t\t{HOST}:{ctrl}\n"
        )
        log = d / "baresip.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["baresip", "-f", str(d)], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        b = Baresip(port, ctrl, proc, log)
        started.append(b)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, ctrl), timeout=0.2):
                    return b
            except OSError:
                time.sleep(0.05)
        proc.kill()
        pytest.fail(f"baresip did not start: {b.output()[-2000:]}")

    yield start
    for b in started:
        b.proc.terminate()
        try:
            b.proc.wait(5)
        except subprocess.TimeoutExpired:
            b.proc.kill()
            b.proc.wait()


# ------------------------------------------------------------------------------------------ channel


def wav_bytes(seconds: float, freq: float = 440.0, rate: int = 8000) -> bytes:
    """A 16-bit mono WAV of a quiet sine (a stand-in prompt of a known length)."""
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(
        buf,
        (0.2 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16),
        rate,
        format="WAV",
        subtype="PCM_16",
    )
    return buf.getvalue()


def wav_preparer(directory: Path) -> Callable[[str, bytes, Mapping[str, Any] | None, int], Path]:
    """Prompt preparation for tests that give WAV content (16-bit) directly: the same file at any clock
    rate (pjmedia's player and bridge convert)."""

    def prepare(voice_format: str, content: bytes, tts: Mapping[str, Any] | None, clock_rate: int) -> Path:
        assert voice_format == "wav", voice_format
        path = directory / (hashlib.sha256(content).hexdigest()[:16] + ".wav")
        if not path.exists():
            path.write_bytes(content)
        return path

    return prepare


_SEQ = iter(range(1, 1_000_000))


def make_work(
    address: str,
    *,
    alert_type: str = "call",
    params: Mapping[str, Any] | None = None,
    content: bytes | None = None,
    attempt: int = 1,
    delivery_id: int | None = None,
) -> DeliveryWork:
    p: dict[str, Any] = {"sender": "+441000000001", "voiceFormat": "wav"}
    p.update(params or {})
    return DeliveryWork(
        delivery_id=delivery_id or next(_SEQ),
        alert_ref="A1",
        client_ref="",
        item_index=0,
        tag="t",
        alert_type=alert_type,
        address=address,
        contact_id=None,
        token="tok",
        content=content or wav_bytes(1.0),
        text=None,
        params=p,
        attempt=attempt,
        created_at=time.time(),
    )


@pytest.fixture
async def voice_channel(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    # imported here: this plugin is loaded for the whole suite, the channel needs pjsua2
    from alertnode.voice.channel import VoiceChannel

    channels: list[VoiceChannel] = []

    async def start(real_prompts: bool = False, **overrides: Any) -> tuple[VoiceChannel, MemorySink]:
        settings: dict[str, Any] = {
            "enabled": True,
            "sip_port_base": 0,
            "max_concurrent_calls": 4,
            "ring_timeout_s": 10,
            "key_wait_s": 3,
            "max_call_s": 30,
            "retry_interval_s": 0.5,
        }
        settings.update(overrides)
        settings.setdefault("rtp_port_base", free_rtp_base(40 * (-(-settings["max_concurrent_calls"] // 4))))
        cfg = VoiceConfig(**settings)
        prompts_dir = tmp_path / "prompts"
        prompts_dir.mkdir(exist_ok=True)
        preparer = None if real_prompts else wav_preparer(prompts_dir)
        ch = VoiceChannel(config=cfg, data_dir=tmp_path, prompts=preparer)
        sink = MemorySink()
        channels.append(ch)
        await ch.start(sink)
        assert await ch.wait_ready(20), "voice workers did not start"
        return ch, sink

    yield start
    for ch in channels:
        await ch.stop(5)


__all__ = ["DeliveryState", "MemorySink", "make_work", "wav_bytes"]
