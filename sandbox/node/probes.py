"""Readiness probes: when to probe and what the results mean (pure), and the HTTP GET itself.

:class:`Readiness` follows the kubelet's prober for one container start: no probe before
``initialDelaySeconds``, then one every ``periodSeconds``; ``successThreshold`` successes in a row
make the container ready, ``failureThreshold`` failures in a row make it unready again. One
deliberate difference: until the first success, probes come every ``first_interval`` (at most the
period), so a Pod whose probe is defaulted to a 10 s period is ready as soon as its process answers
instead of one period later; from the first success on the period is honoured.

:func:`http_get_ok` is the probe: a GET to ``http://<podIP>:<port><path>``, success on 200-399, as
the kubelet's HTTP prober decides.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass

from sandbox.node.podspec import ProbePlan


@dataclass
class Readiness:
    """The readiness of one container since it (re)started at ``started`` (monotonic seconds)."""

    plan: ProbePlan
    started: float
    first_interval: float | None = 0.5
    ready: bool = False
    successes: int = 0
    failures: int = 0
    last_probe: float | None = None
    ever_ready: bool = False

    def due(self, now: float) -> bool:
        """Whether a probe should run now."""
        if now < self.started + self.plan.initial_delay:
            return False
        if self.last_probe is None:
            return True
        interval = self.plan.period
        if not self.ever_ready and self.first_interval is not None:
            interval = min(interval, self.first_interval)
        return now - self.last_probe >= interval

    def record(self, ok: bool, now: float) -> bool:
        """Take one probe result; returns whether the readiness changed."""
        before = self.ready
        self.last_probe = now
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.plan.success_threshold:
                self.ready = self.ever_ready = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= self.plan.failure_threshold or not self.ever_ready:
                self.ready = False
        return self.ready != before


def http_get_ok(host: str, port: int, path: str, timeout: float) -> bool:
    """One HTTP readiness probe: True on a 2xx or 3xx answer, False on anything else or no answer."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "kube-probe/1.37", "Accept": "*/*"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        connection.close()
    return 200 <= status < 400
