"""The PDUs on the hot path, encoded and decoded directly (SMPP 3.4 §4.4.1 submit_sm, §4.4.2
submit_sm_resp, §4.6.1 deliver_sm, §4.6.2 deliver_sm_resp); every other PDU goes through smpplib.

Why: smpplib builds a submit_sm by walking ~45 parameters per PDU (~230 µs here), which alone caps a
link below the node's throughput floor. The bytes produced here are identical to smpplib's for the
fields the node uses; tests/sms/test_pdu.py checks that against smpplib itself.

Pure: bytes in, bytes out.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HEADER = struct.Struct(">LLLL")  # command_length, command_id, command_status, sequence_number (§3.2)
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
GENERIC_NACK = 0x80000000
DELIVER_SM_RESP = 0x80000005

# SMPP 3.4 §5.3.2 TLV tags used in submit_sm, in the order smpplib writes them
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_MESSAGE_PAYLOAD = 0x0424

# §4.4.1 maximum C-octet string sizes including the NUL
_MAX = {"service_type": 6, "source_addr": 21, "destination_addr": 21, "validity_period": 17}


def _cstr(value: str | None, field: str) -> bytes:
    raw = (value or "").encode("latin-1")
    limit = _MAX[field] - 1
    return raw[:limit] + b"\0"


def submit_sm_body(fields: Mapping[str, Any]) -> bytes:
    """The body of a submit_sm (everything after the header) for the fields the node sets."""
    return (
        source_part(
            fields.get("service_type") or "",
            fields.get("source_addr_ton") or 0,
            fields.get("source_addr_npi") or 0,
            fields.get("source_addr") or "",
        )
        + dest_part(
            fields.get("dest_addr_ton") or 0, fields.get("dest_addr_npi") or 0, fields.get("destination_addr") or ""
        )
        + content_part(
            fields.get("esm_class") or 0,
            fields.get("validity_period") or "",
            fields.get("registered_delivery") or 0,
            fields.get("data_coding") or 0,
            fields.get("short_message") or b"",
            fields.get("sar_msg_ref_num"),
            fields.get("sar_total_segments"),
            fields.get("sar_segment_seqnum"),
            fields.get("message_payload") or b"",
        )
    )


@functools.lru_cache(maxsize=64)
def source_part(service_type: str, ton: int, npi: int, addr: str) -> bytes:
    """service_type … source_addr: the same for every message of an alert item."""
    return _cstr(service_type, "service_type") + bytes((ton, npi)) + _cstr(addr, "source_addr")


def dest_part(ton: int, npi: int, addr: str) -> bytes:
    return bytes((ton, npi)) + _cstr(addr, "destination_addr")


@functools.lru_cache(maxsize=1024)
def content_part(
    esm_class: int,
    validity_period: str,
    registered_delivery: int,
    data_coding: int,
    short_message: bytes,
    sar_ref: int | None = None,
    sar_total: int | None = None,
    sar_seq: int | None = None,
    payload: bytes = b"",
) -> bytes:
    """esm_class … the TLVs: the same for every recipient of a one-part text (protocol_id, priority_flag,
    replace_if_present_flag and sm_default_msg_id are 0; schedule_delivery_time is empty: now)."""
    out = bytearray((esm_class, 0, 0))
    out += b"\0"
    out += _cstr(validity_period, "validity_period")
    out += bytes((registered_delivery, 0, data_coding, 0, len(short_message)))
    out += short_message
    if sar_ref is not None:
        out += struct.pack(">HHH", TAG_SAR_MSG_REF_NUM, 2, sar_ref)
    if sar_total is not None:
        out += struct.pack(">HHB", TAG_SAR_TOTAL_SEGMENTS, 1, sar_total)
    if sar_seq is not None:
        out += struct.pack(">HHB", TAG_SAR_SEGMENT_SEQNUM, 1, sar_seq)
    if payload:
        out += struct.pack(">HH", TAG_MESSAGE_PAYLOAD, len(payload)) + payload
    return bytes(out)


def submit_sm(sequence: int, body: bytes) -> bytes:
    return HEADER.pack(16 + len(body), SUBMIT_SM, 0, sequence) + body


def deliver_sm_resp(sequence: int, status: int) -> bytes:
    """§4.6.2: the message_id is unused and sent empty (one NUL)."""
    return HEADER.pack(17, DELIVER_SM_RESP, status, sequence) + b"\0"


def split(buffer: bytearray) -> list[bytes]:
    """Whole PDUs at the front of ``buffer`` (removed from it); a partial one stays.
    Raises ValueError on a length no PDU can have (§3.2: at least the 16-octet header)."""
    out = []
    pos = 0
    n = len(buffer)
    while n - pos >= 4:
        (length,) = struct.unpack_from(">L", buffer, pos)
        if length < 16 or length > 0x10000 + 16:
            raise ValueError(f"impossible command_length {length}")
        if n - pos < length:
            break
        out.append(bytes(buffer[pos : pos + length]))
        pos += length
    del buffer[:pos]
    return out


def header(raw: bytes) -> tuple[int, int, int]:
    """(command_id, command_status, sequence_number) of a whole PDU."""
    _, command_id, status, seq = HEADER.unpack_from(raw)
    return command_id, status, seq


def submit_sm_resp_id(raw: bytes) -> str:
    """The message_id of a submit_sm_resp (absent when the status is an error: §4.4.2)."""
    body = raw[16:]
    end = body.find(b"\0")
    return (body if end < 0 else body[:end]).decode("latin-1")


DELIVER_SM = 0x00000005
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_MESSAGE_STATE = 0x0427


@dataclass(frozen=True)
class DeliverSm:
    """The fields of a deliver_sm (§4.6.1) the node uses: the one record of a received deliver_sm,
    which the link thread hands on inside its ``Inbound``."""

    source_addr_ton: int
    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    message_payload: bytes | None
    receipted_message_id: bytes | None
    message_state: int | None
    sar: tuple[int, int, int] | None


def _take_cstr(raw: bytes, pos: int) -> tuple[bytes, int]:
    end = raw.index(b"\0", pos)  # ValueError when the NUL is missing
    return raw[pos:end], end + 1


def parse_deliver_sm(raw: bytes) -> DeliverSm:
    """Decode a whole deliver_sm PDU; raises ValueError if it is malformed. Unknown TLVs are skipped
    (§3.2.4: an ESME ignores optional parameters it does not know)."""
    pos = 16
    _, pos = _take_cstr(raw, pos)  # service_type
    if pos + 2 > len(raw):
        raise ValueError("deliver_sm too short")
    src_ton = raw[pos]
    pos += 2  # source_addr_ton, source_addr_npi
    src, pos = _take_cstr(raw, pos)
    pos += 2  # dest_addr_ton, dest_addr_npi
    dst, pos = _take_cstr(raw, pos)
    if pos + 3 > len(raw):
        raise ValueError("deliver_sm too short")
    esm_class = raw[pos]
    pos += 3  # esm_class, protocol_id, priority_flag
    _, pos = _take_cstr(raw, pos)  # schedule_delivery_time
    _, pos = _take_cstr(raw, pos)  # validity_period
    if pos + 5 > len(raw):
        raise ValueError("deliver_sm too short")
    data_coding = raw[pos + 2]
    sm_length = raw[pos + 4]
    pos += 5  # registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, sm_length
    short_message = raw[pos : pos + sm_length]
    if len(short_message) != sm_length:
        raise ValueError("short_message runs past the PDU")
    pos += sm_length
    payload = receipted = None
    state = sar_ref = sar_total = sar_seq = None
    while pos + 4 <= len(raw):
        tag, length = struct.unpack_from(">HH", raw, pos)
        value = raw[pos + 4 : pos + 4 + length]
        if len(value) != length:
            raise ValueError(f"TLV 0x{tag:04x} runs past the PDU")
        pos += 4 + length
        if tag == TAG_MESSAGE_PAYLOAD:
            payload = value
        elif tag == TAG_RECEIPTED_MESSAGE_ID:
            receipted = value.rstrip(b"\0")
        elif tag == TAG_MESSAGE_STATE and length == 1:
            state = value[0]
        elif tag == TAG_SAR_MSG_REF_NUM and length == 2:
            sar_ref = int.from_bytes(value, "big")
        elif tag == TAG_SAR_TOTAL_SEGMENTS and length == 1:
            sar_total = value[0]
        elif tag == TAG_SAR_SEGMENT_SEQNUM and length == 1:
            sar_seq = value[0]
    sar = (sar_ref, sar_total, sar_seq or 0) if sar_ref is not None and sar_total else None
    return DeliverSm(
        src_ton,
        src.decode("latin-1"),
        dst.decode("latin-1"),
        esm_class,
        data_coding,
        short_message,
        payload,
        receipted,
        state,
        sar,
    )
