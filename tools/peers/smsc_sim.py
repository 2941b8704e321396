#!/usr/bin/env python3
"""The SMSC simulator for tests and benchmarks: a thin launcher of ``alertnode.sandbox.smsc`` (the node runs the
same simulator in sandbox mode). ``--help`` lists the options; the module's docstring says what it does.

SMPP on 127.0.0.1:42775 (``--port``), control HTTP on 127.0.0.1:42780 (``--ctl-port``):
``/mo?to=NUM&from=NUM&text=TXT[&system_id=ID]`` injects an MO, ``/stats`` answers JSON counters.
"""

from alertnode.sandbox.smsc import main

if __name__ == "__main__":
    main()
