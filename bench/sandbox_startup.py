"""Start-up time of the sandbox, from ``Sandbox.up`` (what ``serinus sandbox up`` calls) to ready, and the
time from applying a Deployment to ``readyReplicas`` and to traffic answered through Envoy.

Each round starts a sandbox in a fresh directory, applies the demo app (2 replicas), a Service and an
HTTPRoute for the demo host, waits until the steady traffic generator gets answers from the app, and
takes the sandbox down (timing that too). Figures, not assertions.

    python -m bench.sandbox_startup [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.session import Sandbox
from sandbox.supervisor import FLEET_SEED

ROUTING = """
apiVersion: v1
kind: Service
metadata: {name: podinfo}
spec:
  selector: {app: podinfo}
  ports: [{name: http, port: 9898, targetPort: http}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: podinfo}
spec:
  hostnames: [podinfo.sandbox.local]
  rules: [{backendRefs: [{name: podinfo, port: 9898}]}]
"""


def _wait(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the sandbox did not get there in time")
        time.sleep(0.02)


def one_round(workdir: Path) -> dict[str, float]:
    """Seconds for: up, Deployment ready, first answer through Envoy, down."""
    begin = time.monotonic()
    sandbox = Sandbox.up(workdir)
    up = time.monotonic() - begin
    try:
        begin = time.monotonic()
        sandbox.apply((FLEET_SEED / "apps/podinfo/deployment.yaml").read_text())
        sandbox.apply(ROUTING)
        _wait(lambda: (sandbox.get("apps/v1", "Deployment", "podinfo") or {}).get("status", {}).get(
            "readyReplicas") == 2)  # fmt: skip
        ready = time.monotonic() - begin
        _wait(lambda: sandbox.traffic_counts().by_version.get("1.0.0", 0) > 0)
        served = time.monotonic() - begin
    finally:
        begin = time.monotonic()
        sandbox.down()
        down = time.monotonic() - begin
    return {"up": up, "deployment ready": ready, "first answer": served, "down": down}


def main() -> None:
    """Print per-round figures and medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
            figures = one_round(Path(tmp))
        rounds.append(figures)
        print(f"round {i + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in figures.items()))
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        print(f"{key:>17}: median {statistics.median(values):.2f}s  max {max(values):.2f}s")


if __name__ == "__main__":
    main()
