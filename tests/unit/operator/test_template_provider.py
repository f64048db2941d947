"""A MetricTemplate's ``spec.provider`` reaches the metric provider as it is written.

Pins: ``timeout`` (a duration) and ``insecureSkipVerify`` become the provider config's ``timeout`` and
``verify_tls`` (defaults: the operator's 5 s, verification on), credentials come from the Secret, and a
value that cannot be used (not a duration, zero, not a boolean) is an ``ERROR`` check naming the
template, the field and the value: the run holds and pauses, nothing is queried, nothing is reverted.
"""

from __future__ import annotations

from typing import Any

import pytest

from analysis.providers import ProviderConfig
from controller.operator.template_provider import TemplateProviderError, template_provider_config
from tests.unit.operator.world import METRICS_SERVER, NAME, NEW, NS, World

ANALYSIS = {
    "interval": "10s", "threshold": 2, "stepWeight": 25, "maxWeight": 50, "inconclusiveLimit": 3,
}


def template(name: str, query: str, **provider: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS},
            "spec": {"provider": {"type": "prometheus", **provider}, "query": query}}


def metric(name: str, ref: str) -> dict[str, Any]:
    return {"name": name, "templateRef": {"name": ref}, "thresholdRange": {"min": 99}}


def start_run(world: World, *refs: str) -> None:
    world.setup(analysis={**ANALYSIS, "metrics": [metric(ref, ref) for ref in refs]})
    world.run_until("Initialized")
    world.git.commit(NEW)
    world.reconciler.trigger(NS, NAME)


def test_timeout_and_insecure_skip_verify_reach_the_provider() -> None:
    world = World()
    world.templates.templates[(NS, "tuned")] = template("tuned", "tuned_query", timeout="1m30s",
                                                        insecureSkipVerify=True)
    world.templates.templates[(NS, "plain")] = template("plain", "plain_query")
    world.prometheus.set("tuned_query", [100.0])
    world.prometheus.set("plain_query", [100.0])
    start_run(world, "tuned", "plain")
    world.run_until("Progressing", seconds=11)
    for _ in range(5):
        if world.status().get("checks"):
            break
        world.tick(11)
    assert ProviderConfig(address=METRICS_SERVER, timeout=90.0, verify_tls=False) in world.provider_configs
    assert ProviderConfig(address=METRICS_SERVER, timeout=5.0, verify_tls=True) in world.provider_configs
    assert {c["metric"]: c["verdict"] for c in world.status()["checks"]} == {"tuned": "PASS", "plain": "PASS"}


@pytest.mark.parametrize(("provider", "message"), [
    ({"timeout": "soon"},
     'MetricTemplate shop/bad: spec.provider.timeout: "soon" is not a duration; expected a number with a '
     'unit, like "30s", "1m" or "1h30m"'),
    ({"timeout": "0s"}, 'MetricTemplate shop/bad: spec.provider.timeout: "0s" must be longer than 0'),
    ({"timeout": 5},
     'MetricTemplate shop/bad: spec.provider.timeout: 5 is not a duration; '
     'expected text like "5s" or "500ms"'),
    ({"insecureSkipVerify": "yes"},
     "MetricTemplate shop/bad: spec.provider.insecureSkipVerify: 'yes' is not true or false"),
])
def test_an_unusable_value_is_an_error_check_that_holds_and_never_reverts(
        provider: dict[str, Any], message: str) -> None:
    world = World()
    world.templates.templates[(NS, "bad")] = template("bad", "bad_query", **provider)
    world.prometheus.set("bad_query", [100.0])
    start_run(world, "bad")
    world.run_until("Paused", seconds=11)
    status = world.status()
    assert {(c["metric"], c["verdict"], c.get("message")) for c in status["checks"]} == {
        ("bad", "ERROR", message)}
    assert "bad_query" not in world.prometheus.queries
    assert world.git.reverts() == [] and status["failedChecks"] == 0


def test_credentials_come_from_the_secret_and_the_address_defaults_to_the_metrics_server() -> None:
    config = template_provider_config({"timeout": "250ms"}, {"token": "t0k"}, default_address="http://p:9090",
                                      default_timeout=5.0)
    assert config == ProviderConfig(address="http://p:9090", bearer_token="t0k", timeout=0.25)
    basic = template_provider_config({"address": "http://q:9090"}, {"username": "u", "password": "p"},
                                     default_address="http://p:9090", default_timeout=3.0)
    assert (basic.address, basic.username, basic.password, basic.timeout) == ("http://q:9090", "u", "p", 3.0)
    with pytest.raises(TemplateProviderError, match="insecureSkipVerify"):
        template_provider_config({"insecureSkipVerify": 1}, None, default_address="", default_timeout=5.0)
