"""Write an RTP pcap of any audio for SIPp's ``play_pcap_audio``, and the far ends of the answering-machine
tests (generated at test time from espeak-ng speech; never committed):

    .venv/bin/python tools/peers/sipp/make_audio_pcap.py hello /tmp/hello.pcap     # a person: "Hello?"
    .venv/bin/python tools/peers/sipp/make_audio_pcap.py mailbox /tmp/mailbox.pcap # a greeting, then a beep
    .venv/bin/python tools/peers/sipp/make_audio_pcap.py some.wav /tmp/some.pcap   # any WAV (resampled to 8 kHz)

20 ms packets of G.711 (PT 8 PCMA or 0 PCMU, RFC 3551 §6), as tools/peers/sipp/make_inband_pcap.py writes.
``hello``: 400 ms of silence, "Hello?" (espeak-ng en-us) at -20 dBm0, then silence to 8 s: a person who
answers and waits. ``mailbox``: 300 ms of silence, a voicemail greeting of about 8 s (espeak-ng en-gb), 300 ms,
a 1 kHz beep of 400 ms, then 8 s of silence (the mailbox records).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 8000
FRAME = 160
SSRC = 0x0A0B0C0D
GREETING = (
    "Hello, you have reached the voicemail of John Smith. I can't take your call right now. "
    "Please leave your name and number after the tone, and I will call you back."
)


def _pcm(x: npt.NDArray[np.float64]) -> npt.NDArray[np.int16]:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def hello(seconds: float = 8.0) -> npt.NDArray[np.int16]:
    """A person picking up: 400 ms, "Hello?", then silence (8 kHz int16)."""
    from tools.vectors.amd_corpus import DBM0_RMS, speech

    x = np.zeros(int(seconds * RATE))
    word = speech("Hello?", "en-us") * DBM0_RMS * 10 ** (-20 / 20)
    start = int(0.4 * RATE)
    x[start : start + len(word)] = word
    return _pcm(x)


def mailbox() -> tuple[npt.NDArray[np.int16], float]:
    """A voicemail greeting then its beep (8 kHz int16), and when the beep ends (ms after the start)."""
    from tools.vectors.amd_corpus import DBM0_RMS, speech, tone

    greeting = speech(GREETING, "en-gb") * DBM0_RMS * 10 ** (-20 / 20)
    beep = tone(1000.0, 400.0) * DBM0_RMS * 10 ** (-16 / 20)
    gap = np.zeros(int(0.3 * RATE))
    x = np.concatenate([gap, greeting, gap, beep, np.zeros(8 * RATE)])
    beep_end_ms = 1000 * (2 * len(gap) + len(greeting) + len(beep)) / RATE
    return _pcm(x), beep_end_ms


def _packet(seq: int, ts: int, pt: int, payload: bytes, t_us: int) -> bytes:
    rtp = struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC) + payload
    udp = struct.pack("!HHHH", 6000, 4000, 8 + len(rtp), 0) + rtp  # checksum 0: not computed (RFC 768)
    ip_hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    frame = b"\x00" * 12 + b"\x08\x00" + ip_hdr + udp
    sec, usec = divmod(1_700_000_000_000_000 + t_us, 1_000_000)
    return struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame


def write_pcap(samples: npt.NDArray[np.int16], path: Path, codec: str = "pcma") -> Path:
    """``samples`` (8 kHz int16) as 20 ms RTP packets of G.711 in a pcap file SIPp plays."""
    from alertnode.media.g711 import alaw_encode, ulaw_encode

    pt, encode = {"pcma": (8, alaw_encode), "pcmu": (0, ulaw_encode)}[codec]
    pcm = np.pad(samples, (0, -len(samples) % FRAME))
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(len(pcm) // FRAME):
        payload = encode(pcm[i * FRAME : (i + 1) * FRAME]).tobytes()
        out.append(_packet(1000 + i, i * FRAME, pt, payload, i * 20_000))
    path.write_bytes(b"".join(out))
    return path


def main(what: str, out: Path) -> Path:
    if what == "hello":
        return write_pcap(hello(), out)
    if what == "mailbox":
        return write_pcap(mailbox()[0], out)
    import soundfile as sf
    import soxr

    data, rate = sf.read(what, dtype="float64", always_2d=True)
    return write_pcap(_pcm(soxr.resample(data[:, 0], rate, RATE) * 32767), out)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    print(main(sys.argv[1], Path(sys.argv[2])))
