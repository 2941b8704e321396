"""The detector on real in-band DTMF: the A-law RTP stream of tools/peers/sipp/inband_59hash_pcma.pcap."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from alertnode.media import dtmf, g711

PCAP = Path(__file__).resolve().parents[2] / "tools" / "peers" / "sipp" / "inband_59hash_pcma.pcap"
PCMA = 8  # RFC 3551 static payload type


def rtp_payloads(data: bytes) -> list[tuple[int, int, bytes]]:
    """(sequence, payload type, payload) of every UDP/RTP packet of an Ethernet pcap (libpcap format)."""
    (magic,) = struct.unpack("<I", data[:4])
    assert magic == 0xA1B2C3D4, "little-endian microsecond pcap expected"
    assert struct.unpack("<I", data[20:24])[0] == 1, "Ethernet link type expected"
    off = 24
    out = []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off : off + 16])
        pkt = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        ip = pkt[14:]
        if ip[9] != 17:  # UDP
            continue
        rtp = ip[(ip[0] & 0x0F) * 4 + 8 :]
        csrc = rtp[0] & 0x0F
        out.append((struct.unpack(">H", rtp[2:4])[0], rtp[1] & 0x7F, rtp[12 + 4 * csrc :]))
    return out


def test_finds_59hash_in_the_sipp_inband_capture() -> None:
    packets = rtp_payloads(PCAP.read_bytes())
    assert packets and {pt for _, pt, _ in packets} == {PCMA}
    alaw = b"".join(p for _, _, p in sorted(packets))
    pcm = g711.alaw_decode(np.frombuffer(alaw, dtype=np.uint8))
    spans = dtmf.detect_digits(pcm)
    assert "".join(s.digit for s in spans) == "59#"
    assert all(s.end_ms - s.start_ms >= 60 for s in spans)
