"""``event`` webhooks report the Kubernetes event they stand for, with its real type.

Pins: during a run that fails its checks and rolls back, every ``event`` webhook call carries the
message and type (``Normal`` or ``Warning``) of an event recorded on the Canary, and both types are
sent; the webhook's own metadata is kept beside them.
"""

from __future__ import annotations

from controller.core.spec import WebhookType
from tests.unit.operator.world import NAME, NEW, NS, World

ANALYSIS = {
    "interval": "10s", "threshold": 2, "stepWeight": 25, "maxWeight": 50, "inconclusiveLimit": 3,
    "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"}],
    "webhooks": [{"name": "chat", "type": "event", "url": "http://chat/", "metadata": {"channel": "ops"}}],
}


def test_event_webhooks_carry_the_events_type() -> None:
    world = World()
    world.setup(analysis=ANALYSIS)
    world.run_until("Initialized")
    world.prometheus.set("envoy", [42.0])
    world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)
    world.run_until("Failed", seconds=11)
    recorded = {(e.message, e.type) for e in world.events.events.values()}
    sent = [c.payload["metadata"] for c in world.webhooks.calls if c.webhook.type is WebhookType.EVENT]
    assert sent and all(m["channel"] == "ops" for m in sent)
    pairs = {(m["eventMessage"], m["eventType"]) for m in sent}
    assert pairs <= recorded
    assert {kind for _, kind in pairs} == {"Normal", "Warning"}
