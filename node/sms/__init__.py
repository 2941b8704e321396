"""The ``sms`` channel: SMS over SMPP 3.4.

Pure (no sockets, threads, sqlite or clock; time is an argument):
    gsm        GSM 03.38 + extension table, UCS-2, splitting, UDH 8/16-bit, SAR, message_payload
    session    the SMPP session machine: window, segment throttle, enquire_link answer check,
               submit_sm_resp time-outs, reconnect back-off, resubmission, throttling back-off
    status     command_status values and what they mean for the message and the link
    receipts   delivery receipts (text form and TLVs), hex/decimal message-id matching
    mo         reply reassembly (UDH 8/16, SAR), decoding, the reply-keyword parser
    sender     sender/recipient address rules (E.164 TON 1, short code TON 3, alphanumeric TON 5)
    pdu        submit_sm / submit_sm_resp / deliver_sm / deliver_sm_resp on the hot path
    tracker    the messages in hand: parts, acks, retries, expiry, receipts (held ones too), what to
               store, report, queue and answer
    replies    reply reassembly and keywords per link, and the ranking that gives a reply to a delivery
I/O:
    smpplib_adapter   one thread per bind owning smpplib's client and socket
    links             the threads of each configured link, routing by prefix, getinfo details
    channel           SmsChannel: the shell that carries out the tracker's actions (store, sink, links)
    repo              the tables of migration 0010_sms.sql
"""
