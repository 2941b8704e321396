"""The typed channel reports: each class's JSON is exactly the dict the channels built by hand before these
classes existed (the keys getinfo, /readyz and the status page show), and ChannelInfo derives its JSON from
the typed report."""

from __future__ import annotations

from alertnode.domain import ChannelInfo
from alertnode.domain_info import (
    MailInfo,
    MailListenerInfo,
    PromptCacheInfo,
    RegistrationInfo,
    SmppBindInfo,
    SmsInfo,
    SmsLinkInfo,
    SmtpInboundCounts,
    SmtpListenerSocket,
    SubmitLatency,
    VoiceInfo,
    WorkerInfo,
)


def _bind(role: str, tls_error: str = "") -> SmppBindInfo:
    return SmppBindInfo(role, "bound", "bind_resp", 1700000000.5, 10, 9, 1, 2, 3, 50, 4, SubmitLatency(9, 0.123456),
                        0, tls_error)


def test_sms_json_is_the_old_per_link_dict() -> None:
    info = SmsInfo((
        SmsLinkInfo("a", "127.0.0.1", 2775, "transmitter_receiver", False, (_bind("transmitter"), _bind("receiver"))),
        SmsLinkInfo("b", "127.0.0.1", 2776, "transceiver", True, (_bind("transceiver", "certificate verify failed"),)),
    ))
    thread = {"state": "bound", "reason": "bind_resp", "since": 1700000000.5, "submitted": 10, "acked": 9,
              "queued": 1, "requeued": 2, "inFlight": 3, "window": 50, "throttled": 4,
              "submitLatency": {"count": 9, "sum": 0.123456}, "staleAnswers": 0}
    assert info.as_json() == {
        "a": {"host": "127.0.0.1", "port": 2775, "bindMode": "transmitter_receiver", "tls": False,
              "transmitter": thread, "receiver": thread},
        "b": {"host": "127.0.0.1", "port": 2776, "bindMode": "transceiver", "tls": True,
              "transceiver": {**thread, "tlsError": "certificate verify failed"}},
    }
    assert list(info.as_json()["a"]) == ["host", "port", "bindMode", "tls", "transmitter", "receiver"]
    assert SmsInfo().as_json() == {}


def test_voice_json_is_the_old_dict_with_optional_parts_left_out() -> None:
    full = VoiceInfo(
        waiting_inbound=1, sip_port=5060,
        workers=(WorkerInfo(0, True, 40001, 2, 1), WorkerInfo(1, False, 0, 0, 3)),
        registration=RegistrationInfo(True, 200, "OK", 300), prompt_cache=PromptCacheInfo(4, 2),
    )
    assert full.as_json() == {
        "sipPort": 5060,
        "workers": [{"index": 0, "ready": True, "sipPort": 40001, "calls": 2, "starts": 1},
                    {"index": 1, "ready": False, "sipPort": 0, "calls": 0, "starts": 3}],
        "registration": {"registered": True, "code": 200, "reason": "OK", "expires": 300},
        "waitingInbound": 1,
        "promptCache": {"hits": 4, "misses": 2},
    }
    assert list(full.as_json()) == ["sipPort", "workers", "registration", "waitingInbound", "promptCache"]
    assert full.calls_active == 2
    # before the workers exist (and without registration or prompt cache): only what the channel knows
    assert VoiceInfo(waiting_inbound=0).as_json() == {"waitingInbound": 0}
    assert VoiceInfo(waiting_inbound=0).calls_active is None
    # no answer from the registrar yet: nothing but that
    assert RegistrationInfo().as_json() == {"registered": None}
    assert RegistrationInfo(False, 403, "Forbidden", 0).as_json() == {
        "registered": False, "code": 403, "reason": "Forbidden", "expires": 0}


def _mail(listener: MailListenerInfo) -> MailInfo:
    return MailInfo("127.0.0.1:2525", "off", True, 2, 7, 1, 3, "421 try later", False, "example.org", listener)


def test_mail_json_is_the_old_dict() -> None:
    listener = MailListenerInfo(
        True,
        SmtpListenerSocket(True, "127.0.0.1:2526", ("example.org", "replies.example.org"), 4, 1, 0, 2, 0, 3),
        SmtpInboundCounts(3, 1, 1, 0, 0),
    )
    assert _mail(listener).as_json() == {
        "smarthost": "127.0.0.1:2525", "tls": "off", "auth": True, "connections": 2, "sent": 7, "failed": 1,
        "waitingToRetry": 3, "lastError": "421 try later", "smarthostReachable": False, "domain": "example.org",
        "listener": {"enabled": True, "listening": True, "address": "127.0.0.1:2526",
                     "domains": ["example.org", "replies.example.org"], "received": 4, "refusedRelay": 1,
                     "errors": 0, "connections": 2, "refusedBusy": 0, "sessionsEnded": 3, "matched": 3,
                     "unsolicited": 1, "bounces": 1, "duplicates": 0, "invalid": 0},
    }
    # a listener that is switched off shows only that
    assert _mail(MailListenerInfo(False)).as_json()["listener"] == {"enabled": False}


def test_channel_info_details_are_the_typed_reports_json() -> None:
    typed = VoiceInfo(waiting_inbound=2, sip_port=5060)
    info = ChannelInfo("voice", ("call",), "ready", 8, 0, typed=typed)
    assert info.details == {"sipPort": 5060, "waitingInbound": 2}
    assert info.as_dict()["details"] == {"sipPort": 5060, "waitingInbound": 2}
    # a stale dict given beside the typed report never wins
    assert ChannelInfo("voice", ("call",), "ready", 8, 0, {"sipPort": 1}, typed).details == info.details
    # a channel without a typed report (a test fake) keeps its free dict
    assert ChannelInfo("fake", ("sms",), "up", 1, 0, {"x": 1}).as_dict()["details"] == {"x": 1}
