"""Write ``both_2_pcma_pt120.pcap``: one RTP stream carrying the key 2 both ways at once, as a phone
that sends RFC 4733 events and leaves the tone in the audio does.

20 ms PCMA packets (PT 8) for 1 s; from 200 ms the audio holds the DTMF tone of 2 (697 + 1336 Hz,
ITU-T Q.23) for 120 ms, each tone at −10 dBm0; alongside, telephone-event packets (PT 120, RFC 4733
§2.3) for event 2 with growing duration and three end packets. One SSRC, one sequence number space.
The node must report the key once. Run from the repository root:

    .venv/bin/python tools/peers/sipp/make_both_pcap.py
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path[0] = str(ROOT)

from alertnode.media.g711 import alaw_encode  # noqa: E402

RATE = 8000
FRAME = 160
SSRC = 0x11223344
DBM0_PEAK = 32124.0 * 10 ** (-3.17 / 20)  # G.711: a 0 dBm0 sine's peak in 16-bit PCM


def tone(n: int, start: int) -> np.ndarray:
    t = (np.arange(n) + start) / RATE
    amp = DBM0_PEAK * 10 ** (-10 / 20)
    return amp * (np.sin(2 * np.pi * 697 * t) + np.sin(2 * np.pi * 1336 * t))


def packet(seq: int, ts: int, pt: int, payload: bytes, marker: bool, t_us: int) -> bytes:
    rtp = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC) + payload
    udp = struct.pack("!HHHH", 6000, 4000, 8 + len(rtp), 0) + rtp  # checksum 0: not computed (RFC 768)
    ip_hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        seq & 0xFFFF,
        0,
        64,
        17,
        0,
        bytes([127, 0, 0, 1]),
        bytes([127, 0, 0, 1]),
    )
    frame = b"\x00" * 12 + b"\x08\x00" + ip_hdr + udp
    sec, usec = divmod(1_700_000_000_000_000 + t_us, 1_000_000)
    return struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame


def main() -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    seq = 1000
    on_from, on_to = 10 * FRAME, 16 * FRAME  # samples 1600..2560: 200 ms to 320 ms
    event_ts = on_from
    for i in range(50):
        start = i * FRAME
        pcm = np.zeros(FRAME)
        lo, hi = max(start, on_from), min(start + FRAME, on_to)
        if lo < hi:
            pcm[lo - start : hi - start] = tone(hi - lo, lo)
        payload = alaw_encode(np.round(pcm).astype(np.int16)).tobytes()
        out.append(packet(seq, start, 8, payload, False, i * 20_000))
        seq += 1
        if on_from <= start < on_to + 3 * FRAME:
            duration = min(start + FRAME, on_to) - event_ts
            end = start >= on_to
            # RFC 4733 §2.3: event, E|R|volume, duration; the first packet carries the marker bit
            ev = struct.pack("!BBH", 2, (0x80 if end else 0) | 10, duration)
            out.append(packet(seq, event_ts, 120, ev, start == on_from, i * 20_000 + 1))
            seq += 1
    Path(__file__).with_name("both_2_pcma_pt120.pcap").write_bytes(b"".join(out))


if __name__ == "__main__":
    main()
