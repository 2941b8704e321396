"""SMPP command_status classes (pure)."""

from __future__ import annotations

from alertnode.errors import SmppError
from alertnode.sms import status


def test_each_error_knows_its_status_and_the_link_fate() -> None:
    e = status.error_for(status.ESME_RINVDSTADR)
    assert isinstance(e, status.SmppRejected) and e.permanent and e.smpp_status == 0x0B
    assert isinstance(status.error_for(status.ESME_RTHROTTLED), status.SmppThrottled)
    assert isinstance(status.error_for(status.ESME_RMSGQFUL), status.SmppThrottled)
    assert isinstance(status.error_for(status.ESME_RINVBNDSTS), status.SmppLinkFailure)
    t = status.error_for(status.ESME_RSYSERR)
    assert isinstance(t, status.SmppTemporary) and not t.permanent
    unknown = status.error_for(0x4242)
    assert isinstance(unknown, SmppError) and not unknown.permanent and "0x00004242" in str(unknown)
    assert status.status_name(0x58) == "ESME_RTHROTTLED"
