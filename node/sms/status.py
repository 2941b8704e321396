"""SMPP 3.4 command_status values (§5.1.3) and what each means for a message and for the link.

As in Jasmin, each error knows the status it carries on the wire and its class says whether the
link survives it: :class:`SmppRejected` (permanent for the message, link fine), :class:`SmppTemporary`
(retry the message later, link fine), :class:`SmppThrottled` (slow the link down and retry),
:class:`SmppLinkFailure` (the bind is unusable: drop it, rebind, resubmit).
"""

from __future__ import annotations

from alertnode.errors import SmppError

ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RINVPRTFLG = 0x06
ESME_RINVREGDLVFLG = 0x07
ESME_RSYSERR = 0x08
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RINVMSGID = 0x0C
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RINVSERTYP = 0x15
ESME_RINVESMCLASS = 0x43
ESME_RSUBMITFAIL = 0x45
ESME_RINVSRCTON = 0x48
ESME_RINVSRCNPI = 0x49
ESME_RINVDSTTON = 0x50
ESME_RINVDSTNPI = 0x51
ESME_RTHROTTLED = 0x58
ESME_RINVSCHED = 0x61
ESME_RINVEXPIRY = 0x62
ESME_RX_T_APPN = 0x64
ESME_RX_P_APPN = 0x65
ESME_RX_R_APPN = 0x66
ESME_RINVOPTPARSTREAM = 0xC0
ESME_ROPTPARNOTALLWD = 0xC1
ESME_RINVPARLEN = 0xC2
ESME_RMISSINGOPTPARAM = 0xC3
ESME_RINVOPTPARAMVAL = 0xC4
ESME_RDELIVERYFAILURE = 0xFE
ESME_RUNKNOWNERR = 0xFF

NAMES = {v: k for k, v in dict(globals()).items() if k.startswith("ESME_") and isinstance(v, int)}


class SmppRejected(SmppError):
    """The SMSC refuses this message for good; the link is fine."""

    def __init__(self, smpp_status: int) -> None:
        super().__init__(f"submit_sm rejected: {status_name(smpp_status)}", smpp_status, permanent=True)


class SmppTemporary(SmppError):
    """The SMSC could not take this message now; try it again later. The link is fine."""

    def __init__(self, smpp_status: int) -> None:
        super().__init__(f"submit_sm failed for now: {status_name(smpp_status)}", smpp_status)


class SmppThrottled(SmppTemporary):
    """Sending too fast (or the SMSC queue is full): slow the link down, then resubmit."""


class SmppLinkFailure(SmppError):
    """The bind itself is unusable (wrong bind state, bind refused): drop it, rebind, resubmit."""

    def __init__(self, smpp_status: int) -> None:
        super().__init__(f"link failure: {status_name(smpp_status)}", smpp_status)


_THROTTLED = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})
_LINK = frozenset({ESME_RINVBNDSTS, ESME_RALYBND, ESME_RBINDFAIL, ESME_RINVPASWD, ESME_RINVSYSID, ESME_RINVCMDID})
_TEMPORARY = frozenset({ESME_RSYSERR, ESME_RSUBMITFAIL, ESME_RX_T_APPN, ESME_RDELIVERYFAILURE, ESME_RUNKNOWNERR})
_PERMANENT = frozenset(
    {
        ESME_RINVMSGLEN,
        ESME_RINVCMDLEN,
        ESME_RINVPRTFLG,
        ESME_RINVREGDLVFLG,
        ESME_RINVSRCADR,
        ESME_RINVDSTADR,
        ESME_RINVMSGID,
        ESME_RINVSERTYP,
        ESME_RINVESMCLASS,
        ESME_RINVSRCTON,
        ESME_RINVSRCNPI,
        ESME_RINVDSTTON,
        ESME_RINVDSTNPI,
        ESME_RINVSCHED,
        ESME_RINVEXPIRY,
        ESME_RX_P_APPN,
        ESME_RX_R_APPN,
        ESME_RINVOPTPARSTREAM,
        ESME_ROPTPARNOTALLWD,
        ESME_RINVPARLEN,
        ESME_RMISSINGOPTPARAM,
        ESME_RINVOPTPARAMVAL,
    }
)


def status_name(status: int) -> str:
    return NAMES.get(status, f"0x{status:08X}")


def error_for(status: int) -> SmppError:
    """The node's error for a non-zero command_status. Unknown values are temporary: retrying a
    message costs less than losing it."""
    if status in _THROTTLED:
        return SmppThrottled(status)
    if status in _LINK:
        return SmppLinkFailure(status)
    if status in _PERMANENT:
        return SmppRejected(status)
    return SmppTemporary(status)
