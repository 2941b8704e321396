"""The voice worker: one process owning one pjsua2 Endpoint, carrying at most 4 calls.

It places, answers, plays prompts into and tears down calls on commands from its supervisor
(node/voice/supervisor.py) and reports what happens, over the voice pipe (node/voice/pipe.py); it
takes no IVR decision (node/voice/ivr.py does, in the node's process). Run as
``python -m alertnode.voice.worker``.

Modules, one job each:

* ``main``     the process: the pipe's ends, logging to the supervisor, start and exit
* ``loop``     the main loop: pjsua2 events, commands, media hand-offs, shutdown
* ``pjsua``    the pjsua2 adapter (the only module importing pjsua2): callbacks in, values out
* ``native``   two ctypes shortcuts into the wheel's library (frame copies, answering a transaction)
* ``sip_text`` header values, Request-URI and INFO keys read from a SIP message's text (pure)
* ``accounts`` the SIP accounts (registration, caller ids)
* ``calls``    the calls and their states, media (re-)connection, far-end hold
* ``players``  prompt playback
* ``taps``     received audio: tap ports, analysers, keys merged across RFC 4733 and in-band
* ``inband``   analysers batched over the calls (in-band DTMF), pure numpy
* ``keys``     one report per key press (pure)

Threads (DESIGN.md, "pjsua2 facts measured here"): ``threadCnt=0`` and ``mainThreadOnly`` make every
SIP callback run in the main loop, inside ``libHandleEvents``. ``onFrameReceived`` and ``onEof2`` run
on the media clock thread and only append to deques; the main loop drains them. A reader thread
queues the commands.
"""
