"""Registration with digest auth at kamailio, and a call through it (authenticated INVITE, record-route)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from alertnode.domain import DeliveryState
from tests.peers.sip import make_work, wav_bytes

pytestmark = pytest.mark.peer


async def wait_registration(ch: Any, timeout: float = 10) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        reg = dict(ch.info().details["registration"])
        if reg.get("registered") is not None:
            return reg
        await asyncio.sleep(0.05)
    raise AssertionError("no registration result")


async def test_register_with_digest_and_call_through_the_proxy(
    kamailio: Any, sipp_uas: Any, voice_channel: Any
) -> None:
    uas = sipp_uas("uas_press2.xml")
    pbx = kamailio(forward_to=uas.hostport)
    ch, sink = await voice_channel(
        registrar=pbx.hostport,
        user="ivr1",
        password="s3cret",
        dial_plan=[{"match": r"\+44", "replace": "sipp0"}],
        register_expiry_s=120,
    )
    reg = await wait_registration(ch)
    assert (reg["registered"], reg["code"]) == (True, 200)
    assert 60 < reg["expires"] <= 120
    assert ch.ready()
    work = make_work("+441234567890", params={"ivrControl": {"ivrRequireResponse": True}}, content=wav_bytes(3))
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "2"
    assert await asyncio.to_thread(uas.wait) == 0, uas.output()[-2000:]
    log = pbx.output()
    assert "REGISTER ivr1 OK" in log
    assert "INVITE ivr1 -> sipp01234567890 authenticated" in log  # the dial plan rewrote +44 to sipp0


async def test_wrong_password_is_not_registered(kamailio: Any, voice_channel: Any) -> None:
    pbx = kamailio()
    ch, _sink = await voice_channel(registrar=pbx.hostport, user="ivr1", password="wrong")
    reg = await wait_registration(ch)
    assert reg["registered"] is False
    assert reg["code"] in (401, 403)
    assert not ch.ready()
    assert ch.info().state == "starting"


async def test_inbound_call_routed_by_the_pbx_to_the_registered_node(
    kamailio: Any, sipp_uac: Any, voice_channel: Any
) -> None:
    pbx = kamailio()
    ch, sink = await voice_channel(registrar=pbx.hostport, user="ivr1", password="s3cret")
    assert (await wait_registration(ch))["registered"] is True
    work = make_work(
        "+441111111111",
        alert_type="inboundCall",
        params={"telephoneNumber": "+442000000007"},
        content=wav_bytes(0.5),
    )
    await ch.submit(work)
    uac = sipp_uac("uac_inbound.xml", pbx.hostport, "+442000000007", 1, "-key", "caller", "+441111111111")
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED and final.detail["caller"] == "+441111111111"
    assert await asyncio.to_thread(uac.wait) == 0, uac.output()[-2000:]
    # the registered Contact is the SIP front (which spread the call to a worker), not a worker
    front = ch.info().details["sipPort"]
    assert f"REGISTER ivr1 OK contact=<sip:ivr1@127.0.0.1:{front}>" in pbx.output()
