"""When the node runs in sandbox mode, and the channel configuration it then runs with (pure).

Rules:

* ``alertnode serve --sandbox``: sandbox mode, whatever is configured; channels that were configured are
  replaced (each is named in the log line that says so), none of them is started.
* ``alertnode serve --no-sandbox``: never (the node then refuses every alert until a channel is configured).
* Neither: sandbox mode exactly when no channel (SMS, e-mail, voice) is configured; one configured channel is
  enough to run the configuration as written.
* In sandbox mode every channel runs, each pointed at its sandbox peer on 127.0.0.1; only the keys that say
  where and how to reach a peer are replaced (SMPP links and routes; the smarthost, its TLS and credentials;
  the SIP registrar, trunk, proxy, credentials and dial plan). Everything else (reply keywords, time-outs, the
  SMTP listener's address, RTP ports, throughputs) stays as configured, so the sandbox behaves as that node
  would. The SMTP listener is always on (replies and reports come back through it), on any free port unless
  ``mail.listen_port`` is set; the voice workers' SIP ports are any free ones; calls in progress are capped at
  what the sandbox phone takes at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from alertnode.config import Config
from alertnode.sms.config import SmppLinkConfig

PHONE_CALLS = 4
"""Calls the sandbox phone takes at once: one pjsua2 Endpoint, whose PyPI wheel is built with
PJSUA_MAX_CALLS = 4 (DESIGN.md, "pjsua2 facts measured here")."""
SYSTEM_ID = "sandbox"


@dataclass(frozen=True)
class Decision:
    on: bool
    why: str
    replaced: tuple[str, ...] = ()
    """the configured channels the sandbox stands in for"""


def configured(config: Config) -> tuple[str, ...]:
    return tuple(name for name, section in (("sms", config.sms), ("email", config.mail), ("voice", config.voice))
                 if section.configured)


def decide(config: Config, requested: bool | None) -> Decision:
    """``requested``: True for --sandbox, False for --no-sandbox, None when neither was given."""
    present = configured(config)
    if requested is False:
        return Decision(False, "--no-sandbox")
    if requested:
        return Decision(True, "--sandbox", present)
    if not present:
        return Decision(True, "no channel is configured")
    return Decision(False, "channels are configured: " + ", ".join(present))


def sandbox_config(config: Config, *, smsc_port: int, smarthost_port: int, phone: str | None) -> Config:
    """``config`` with every channel pointed at the sandbox peers (``phone``: the phone's host:port, None when
    this build has no voice)."""
    link = SmppLinkConfig(
        name="sandbox", host="127.0.0.1", port=smsc_port, system_id=SYSTEM_ID,
        # the simulator writes mobile-originated GSM texts as Latin-1 octets with data_coding 0
        dcs0_charset="latin1",
    )
    sms = config.sms.model_copy(update={"links": [link], "routes": []})
    mail = config.mail.model_copy(update={
        "smarthost_host": "127.0.0.1", "smarthost_port": smarthost_port, "smarthost_tls": "off",
        "smarthost_tls_verify": False, "smarthost_ca_file": "", "smarthost_username": "",
        "smarthost_password": SecretStr(""), "listen_enabled": True,
        # replies and reports reach the listener through the sandbox, which knows where it is: unless a port was
        # set, any free one (25 or 2525 may well be taken on a machine someone tries the node on)
        "listen_port": config.mail.listen_port if "listen_port" in config.mail.model_fields_set else 0,
    })
    if phone is None:
        voice = config.voice.model_copy(update={"enabled": False})
    else:
        voice = config.voice.model_copy(update={
            "enabled": True, "registrar": "", "user": "", "auth_user": "", "password": "", "domain": "",
            "proxy": "", "trunk": phone, "transport": "udp", "bind_host": "127.0.0.1", "dial_plan": [],
            "sip_port_base": 0, "max_concurrent_calls": min(config.voice.max_concurrent_calls, PHONE_CALLS),
        })
    return config.model_copy(update={"sms": sms, "mail": mail, "voice": voice})
