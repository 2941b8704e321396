"""Sandbox mode: the node's channels pointed at peers it runs itself on 127.0.0.1, so that everything can be
tried on one machine and nothing leaves it.

    wiring      when the node runs in sandbox mode, and the channel configuration it then runs with (pure)
    smsc        the SMSC simulator (smpp34), also run by tools/peers/smsc_sim.py for the tests
    smarthost   an aiosmtpd smarthost keeping every message in a Maildir, with DSN (RFC 3461)
    phone/      the sandbox phone: a pjsua2 user agent in a process of its own (rings, answers, records, keys)
    phonelink   the node's end of the phone's pipe
    texts       submit_sm parts put together and decoded (pure)
    mailmsgs    what the page shows of an e-mail, delivery status notifications, replies (pure)
    book        per recipient, the texts, e-mails and calls and what was done with them (pure)
    runtime     the running sandbox: its peers, the book and its journal, the actions of the page
    routes      the control listener's sandbox routes (an extension) and the X-Alertnode-Sandbox mark
    page        the sandbox phone page (static HTML, no CDN)
"""
