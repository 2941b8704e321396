"""Re-stamp SIPp's shipped RFC 4733 pcaps (payload type 101) to payload type 120.

pjsua 2.15 offers telephone-event as PT 120 and drops events stamped 101 (peers/README), so the
UAS scenarios here play these re-stamped copies. Usage:
    python restamp_pt120.py /usr/share/sip-tester/dtmf_2833_2.pcap dtmf_2833_2_pt120.pcap
"""

from __future__ import annotations

import struct
import sys

ETH_IP_UDP = 14 + 20 + 8  # Ethernet II + IPv4 without options + UDP headers


def restamp(data: bytes, payload_type: int = 120) -> bytes:
    out = bytearray(data)
    off = 24  # pcap global header
    while off < len(out):
        incl = struct.unpack_from("<I", out, off + 8)[0]
        pkt = off + 16
        udp = pkt + 14 + 20
        out[udp + 6 : udp + 8] = b"\x00\x00"  # UDP checksum 0 = not computed (RFC 768)
        rtp = pkt + ETH_IP_UDP
        out[rtp + 1] = (out[rtp + 1] & 0x80) | payload_type  # keep the marker bit (RFC 3550 §5.1)
        off = pkt + incl
    return bytes(out)


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(restamp(data))
