"""alertnode: a self-hosted telephony IVR, SMS and e-mail alerting node."""

__version__ = "0.1.0"
