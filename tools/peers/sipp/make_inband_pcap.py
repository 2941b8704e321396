"""Write an RTP pcap of in-band DTMF keys in G.711 for SIPp's ``play_pcap_audio``:

    .venv/bin/python tools/peers/sipp/make_inband_pcap.py 7 pcmu     # -> inband_7_pcmu.pcap

20 ms packets (PT 0 for PCMU, 8 for PCMA, RFC 3551 §6), 200 ms of silence, then each key's two tones
(ITU-T Q.23) for 80 ms at −10 dBm0 each, 80 ms apart (ITU-T Q.24 timing), then 200 ms of silence.
Run from the repository root.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path[0] = str(ROOT)

from alertnode.media.g711 import alaw_encode, ulaw_encode  # noqa: E402

RATE = 8000
FRAME = 160
SSRC = 0x55667788
DBM0_PEAK = 32124.0 * 10 ** (-3.17 / 20)  # G.711: a 0 dBm0 sine's peak in 16-bit PCM (ITU-T G.711 Table 5)
# ITU-T Q.23: row and column frequencies of each key
_ROWS = {"1": 697, "2": 697, "3": 697, "A": 697, "4": 770, "5": 770, "6": 770, "B": 770,
         "7": 852, "8": 852, "9": 852, "C": 852, "*": 941, "0": 941, "#": 941, "D": 941}
_COLS = {"1": 1209, "4": 1209, "7": 1209, "*": 1209, "2": 1336, "5": 1336, "8": 1336, "0": 1336,
         "3": 1477, "6": 1477, "9": 1477, "#": 1477, "A": 1633, "B": 1633, "C": 1633, "D": 1633}
_CODECS = {"pcmu": (0, ulaw_encode), "pcma": (8, alaw_encode)}


def audio(keys: str) -> np.ndarray:
    amp = DBM0_PEAK * 10 ** (-10 / 20)
    on, off, lead = int(0.08 * RATE), int(0.08 * RATE), int(0.2 * RATE)
    parts = [np.zeros(lead)]
    for key in keys:
        t = np.arange(on) / RATE
        parts += [amp * (np.sin(2 * np.pi * _ROWS[key] * t) + np.sin(2 * np.pi * _COLS[key] * t)), np.zeros(off)]
    parts.append(np.zeros(lead))
    pcm = np.concatenate(parts)
    return np.pad(pcm, (0, -len(pcm) % FRAME))


def packet(seq: int, ts: int, pt: int, payload: bytes, t_us: int) -> bytes:
    rtp = struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC) + payload
    udp = struct.pack("!HHHH", 6000, 4000, 8 + len(rtp), 0) + rtp  # checksum 0: not computed (RFC 768)
    ip_hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    frame = b"\x00" * 12 + b"\x08\x00" + ip_hdr + udp
    sec, usec = divmod(1_700_000_000_000_000 + t_us, 1_000_000)
    return struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame


def main(keys: str, codec: str) -> Path:
    pt, encode = _CODECS[codec]
    pcm = np.round(audio(keys.upper())).astype(np.int16)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i in range(len(pcm) // FRAME):
        payload = encode(pcm[i * FRAME : (i + 1) * FRAME]).tobytes()
        out.append(packet(1000 + i, i * FRAME, pt, payload, i * 20_000))
    name = {"#": "hash", "*": "star"}
    path = Path(__file__).with_name(f"inband_{''.join(name.get(k, k) for k in keys)}_{codec}.pcap")
    path.write_bytes(b"".join(out))
    return path


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2]))
