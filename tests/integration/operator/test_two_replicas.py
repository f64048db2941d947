"""Two `serinus run` replicas with leader election against the API emulator: exactly one acts.

Method: each replica reaches the emulator only through its own small counting HTTP proxy (its
kubeconfig names the proxy, so every request of that process, the `kubernetes` client's and kopf's
alike, watch streams included, passes through it). The proxy forwards each request unchanged and
records its verb, path and answer status. Writes are the non-GET verbs (POST, PUT, PATCH, DELETE).
Which replica is which is known by construction (replica X has proxy X and `--identity X`), and the
Lease names the leader's identity.

Pinned: the Lease holder's proxy carries the run (status, Deployments, Services, HTTPRoute, events);
the follower's proxy carries reads (it is alive and watching) and no write but contention: for the
Lease (never successful), and kopf's finalizer JSON patch when both replicas saw a new Canary before
either added it. A spec edit both replicas see is recorded by the leader only (kopf's
last-handled-configuration; before the fix in `controller.handlers`, every replica wrote it). When the
leader stops, the follower takes the Lease and then does write through its proxy (so the follower's
count of zero was measurable, not vacuous).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from kubernetes.client import CoordinationV1Api
from kubernetes.client.exceptions import ApiException

from sandbox.apiserver.kubeconfig import write_kubeconfig
from sandbox.prometheus import PrometheusServer
from tests.integration.operator.conftest import NAME, NEW, NS, Cluster, Fleet, Operator, deploy, eventually
from tests.integration.operator.counting_proxy import CountingProxy, Request

HEALTHY = "vector(100)"
LEASE = "serinus-leader"


def _holder(cluster: Cluster) -> str:
    try:
        lease = CoordinationV1Api(cluster.api).read_namespaced_lease(LEASE, NS)
    except ApiException:
        return ""
    return str(lease.spec.holder_identity or "") if lease.spec is not None else ""


def _kinds(requests: list[Request]) -> Counter[str]:
    """Write requests by resource (the path segment after the namespace, subresource kept)."""
    found: Counter[str] = Counter()
    for r in requests:
        parts = r.path.strip("/").split("/")
        if "namespaces" in parts and len(parts) > parts.index("namespaces") + 2:
            rest = parts[parts.index("namespaces") + 2 :]
            found["/".join([rest[0], *rest[2:3]])] += 1
        else:
            found[r.path] += 1
    return found


def _adds_finalizer_only(request: Request) -> bool:
    """kopf's JSON patch adding our finalizer to the Canary (guarded by a resourceVersion test)."""
    if request.method != "PATCH" or not request.path.endswith(f"/canaries/{NAME}"):
        return False
    ops = json.loads(request.body)
    return isinstance(ops, list) and {op["path"] for op in ops} <= {
        "/metadata/resourceVersion",
        "/metadata/finalizers",
    }


def test_two_replicas_only_the_lease_holder_writes(
    cluster: Cluster, fleet: Fleet, prometheus: PrometheusServer, tmp_path: Path, operators: list[Operator]
) -> None:
    """Two replicas race for the Lease; through a run to promotion and a spec edit only the holder's
    proxy carries writes (the follower: contention only, nothing after the edit, and reads that show it
    was alive); after the leader stops, the follower takes over and its proxy carries the next run's
    writes."""
    cluster.template(HEALTHY, prometheus.url)
    proxies = {name: CountingProxy(cluster.server.url).start() for name in ("op-a", "op-b")}
    try:
        replicas = {}
        for name, proxy in proxies.items():
            op = Operator(cluster, tmp_path, prometheus.url, identity=name, leader_election=True)
            op.env["KUBECONFIG"] = str(write_kubeconfig(tmp_path / f"kubeconfig-{name}", proxy.url))
            replicas[name] = op
        operators += list(replicas.values())
        for op in replicas.values():  # both at once: they race for the Lease
            op.start()

        leader = eventually(lambda: _holder(cluster), "a Lease holder", timeout=30)
        follower = next(name for name in replicas if name != leader)
        # The Canary appears while both replicas watch: both see it at once.
        deploy(cluster, fleet)
        eventually(lambda: cluster.phase() == "Initialized", "bootstrap", timeout=60)
        fleet.commit(NEW, "podinfo 6.1.0")
        eventually(lambda: cluster.phase() == "Succeeded", "promotion", timeout=90)
        assert cluster.image(f"{NAME}-primary") == NEW
        assert _holder(cluster) == leader  # one leader throughout
        process = replicas[follower].process
        assert process is not None and process.poll() is None, "the follower exited"

        settled = len(proxies[follower].writes())
        # A spec edit while both watch: both replicas' kopf see the same MODIFIED event; only the
        # leader records it as handled (kopf's last-handled-configuration annotation).
        cluster.objs.patch_namespaced_custom_object(
            "serinus.dev", "v1alpha1", NS, "canaries", NAME, {"spec": {"analysis": {"threshold": 3}}}
        )
        eventually(
            lambda: (
                '"threshold":3'
                in (cluster.canary()["metadata"].get("annotations") or {}).get(
                    "serinus.dev/last-handled-configuration", ""
                )
            ),
            "the edit handled by the leader",
            timeout=30,
        )
        time.sleep(2.0)  # the follower got the same event within milliseconds; give it ample time to react

        led = proxies[leader].writes()
        followed = proxies[follower].writes()
        acted = _kinds([r for r in led if 200 <= r.status < 300])
        for kind in ("canaries/status", "deployments", "services", "httproutes", "events"):
            assert any(k.startswith(kind) for k in acted), (kind, acted)
        # The follower: contention only. For the Lease, and for kopf's finalizer when both replicas saw
        # the new Canary before either added it (kopf adds it on any replica that sees it missing).
        contention = [r for r in followed if r.on_lease or _adds_finalizer_only(r)]
        assert followed == contention, [(r.method, r.path, r.status, r.body[:300]) for r in followed]
        assert [r for r in followed if 200 <= r.status < 300 and r.on_lease] == [], followed
        assert proxies[follower].writes()[settled:] == [], "the follower wrote after the spec edit"
        follower_reads = [r for r in proxies[follower].seen() if r.method == "GET"]
        assert any("/canaries" in r.path for r in follower_reads), "the follower's proxy saw no reads"
        print(
            f"\nleader {leader}: {len(led)} writes {dict(_kinds(led))}; follower {follower}: "
            f"{len(followed)} writes {[(r.method, r.path, r.status) for r in followed]}, "
            f"{len(follower_reads)} reads"
        )

        # The leader stops (releasing the Lease): the follower takes over, and its proxy sees its writes.
        replicas[leader].stop()
        eventually(lambda: _holder(cluster) == follower, "take-over by the follower", timeout=30)
        fleet.commit("ghcr.io/acme/podinfo:6.3.0", "podinfo 6.3.0")
        eventually(
            lambda: cluster.image(f"{NAME}-primary") == "ghcr.io/acme/podinfo:6.3.0",
            "the new leader promoting the next release",
            timeout=90,
        )
        taken = _kinds([r for r in proxies[follower].writes() if 200 <= r.status < 300 and not r.on_lease])
        assert any(k.startswith("canaries/status") for k in taken), taken
        assert any(k.startswith("deployments") for k in taken), taken
    finally:
        for op in operators:  # before their proxies, so that their last ticks still reach the emulator
            op.stop()
        for proxy in proxies.values():
            proxy.stop()
