"""Python client of alertnode (standard library only).

    from alertnode.client import AlertNode, Event

    AlertNode.configure("http://127.0.0.1:8080", "YOUR-API-KEY")
    AlertNode.send(Event(event="ci.deploy.failed", message="Deploy of web failed", title="CI"))
"""

from alertnode.client.client import LOGGER_NAME, AlertNode, AlertNodeClient, Event, SendResult

__all__ = ["LOGGER_NAME", "AlertNode", "AlertNodeClient", "Event", "SendResult"]
