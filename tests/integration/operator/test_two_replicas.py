"""Two `serinus run` replicas with leader election against the API emulator: exactly one acts.

Method: each replica reaches the emulator only through its own small counting HTTP proxy (its
kubeconfig names the proxy, so every request of that process, the `kubernetes` client's and kopf's
alike, watch streams included, passes through it). The proxy forwards each request unchanged and
records its verb, path and answer status. Writes are the non-GET verbs (POST, PUT, PATCH, DELETE).
Which replica is which is known by construction (replica X has proxy X and `--identity X`), and the
Lease names the leader's identity.

Pinned: the Lease holder's proxy carries the run (status, Serinus's finalizer added and removed,
Deployments, Services, HTTPRoute, events). The follower's proxy carries reads (it is alive and
watching) and not one write once the election is decided: not while a new Canary appears (both see
it at once), not for a spec edit both see, not while the Canary is deleted and the leader runs the
Terminating flow to the end. Before that, its only writes may be its Lease attempts of the election
itself, none successful. kopf writes nothing on either replica: no kopf finalizer, annotation or
`status.kopf`. When the leader is killed (its Lease still valid for a while) and a Canary is created
meanwhile, no replica leads as it appears; the follower takes the Lease once it expires, adds the
finalizer and runs the next release through its proxy (so the follower's count of zero was
measurable, not vacuous).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from kubernetes.client import CoordinationV1Api
from kubernetes.client.exceptions import ApiException

from controller.kube.status import FINALIZER
from sandbox.apiserver.kubeconfig import write_kubeconfig
from sandbox.prometheus import PrometheusServer
from tests.integration.operator.conftest import (
    NAME,
    NEW,
    NS,
    Cluster,
    Fleet,
    Operator,
    canary_body,
    deploy,
)
from tests.integration.operator.counting_proxy import Request
from tests.polling import eventually

HEALTHY = "vector(100)"
LEASE = "serinus-leader"
NEXT = "ghcr.io/acme/podinfo:6.3.0"


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


def _canary(cluster: Cluster) -> dict[str, object] | None:
    try:
        return cluster.canary()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _primary_image(cluster: Cluster) -> str:
    try:
        return cluster.image(f"{NAME}-primary")
    except ApiException as exc:
        if exc.status == 404:  # not (re)created yet
            return ""
        raise


def _kopf_traces(canary: dict[str, object]) -> list[str]:
    """What kopf would have stored in a Canary: its finalizer, annotations, ``status.kopf``."""
    meta = canary.get("metadata") or {}
    assert isinstance(meta, dict)
    notes = [k for k in meta.get("annotations") or {} if "kopf" in k or "last-handled" in k]
    others = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
    status = canary.get("status") or {}
    assert isinstance(status, dict)
    return notes + others + (["status.kopf"] if "kopf" in status else [])


def test_two_replicas_only_the_lease_holder_writes(
    cluster: Cluster, fleet: Fleet, prometheus: PrometheusServer, tmp_path: Path, operators: list[Operator]
) -> None:
    """Two replicas race for the Lease; through a new Canary, a run to promotion, a spec edit and the
    Canary's deletion only the holder's proxy carries writes, the follower's none after the election;
    a Canary created while the killed leader's Lease runs out gets its finalizer and its next release
    from the follower once it takes over."""
    cluster.template(HEALTHY, prometheus.url)
    proxies = {name: cluster.counting_proxy() for name in ("op-a", "op-b")}
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
        # The follower's election rounds are sequential: a second read of the Lease means its attempt of
        # this election (if any) is answered; from then on it follows, and follows without writing.
        eventually(lambda: sum(r.on_lease and r.method == "GET" for r in proxies[follower].seen()) >= 2,
                   "the follower's second election round", timeout=30)
        eventually(lambda: any("/canaries" in r.path for r in proxies[follower].seen()),
                   "the follower watching")
        election = proxies[follower].writes()
        # The Canary appears while both replicas watch: both see it at once.
        deploy(cluster, fleet)
        eventually(lambda: cluster.phase() == "Initialized", "bootstrap", timeout=60)
        assert cluster.canary()["metadata"].get("finalizers") == [FINALIZER]
        fleet.commit(NEW, "podinfo 6.1.0")
        eventually(lambda: cluster.phase() == "Succeeded", "promotion", timeout=90)
        assert cluster.image(f"{NAME}-primary") == NEW
        assert _holder(cluster) == leader  # one leader throughout

        # A spec edit while both watch: both replicas' kopf see the same MODIFIED event.
        edited = cluster.objs.patch_namespaced_custom_object(
            "serinus.dev", "v1alpha1", NS, "canaries", NAME, {"spec": {"analysis": {"threshold": 3}}}
        )
        generation = edited["metadata"]["generation"]
        eventually(lambda: cluster.status().get("observedGeneration") == generation, "the edit seen",
                   timeout=30)
        time.sleep(2.0)  # the follower got the same event within milliseconds; give it ample time to react
        assert _kopf_traces(cluster.canary()) == []

        # Deletion while both watch: the leader runs the Terminating flow and removes the finalizer.
        cluster.objs.delete_namespaced_custom_object("serinus.dev", "v1alpha1", NS, "canaries", NAME)
        eventually(lambda: _canary(cluster) is None, "the Canary finalized and gone", timeout=60)
        time.sleep(1.0)  # the follower saw the deletion events too

        led = proxies[leader].writes()
        followed = proxies[follower].writes()
        acted = _kinds([r for r in led if 200 <= r.status < 300])
        for kind in ("canaries/status", "canaries", "deployments", "services", "httproutes", "events"):
            assert any(k == kind or k.startswith(kind + "/") for k in acted), (kind, acted)
        finalizer_patches = [r for r in led if r.method == "PATCH" and r.path.endswith(f"/canaries/{NAME}")
                             and b"finalizers" in r.body]
        assert len(finalizer_patches) >= 2, finalizer_patches  # added, then removed by the leader
        # The follower: nothing once the election was decided; before, failed Lease attempts at most.
        assert followed[len(election) :] == [], [(r.method, r.path, r.status, r.body[:300]) for r in followed]
        assert all(r.on_lease and not 200 <= r.status < 300 for r in election), election
        follower_reads = [r for r in proxies[follower].seen() if r.method == "GET"]
        assert any("/canaries" in r.path for r in follower_reads), "the follower's proxy saw no reads"
        print(
            f"\nleader {leader}: {len(led)} writes {dict(_kinds(led))}; follower {follower}: "
            f"{len(followed)} writes {[(r.method, r.path, r.status) for r in followed]}, "
            f"{len(follower_reads)} reads"
        )

        # The leader is killed: its Lease stays valid until it expires, and a Canary created now appears
        # while no replica acts. The follower takes over, adds the finalizer and runs the next release.
        replicas[leader].kill()
        fleet.commit(NEXT, "podinfo 6.3.0")
        cluster.objs.create_namespaced_custom_object("serinus.dev", "v1alpha1", NS, "canaries",
                                                     canary_body(fleet.url))
        eventually(lambda: _holder(cluster) == follower, "take-over by the follower", timeout=30)
        eventually(
            lambda: _primary_image(cluster) == NEXT and cluster.phase() in ("Initialized", "Succeeded"),
            "the new leader running the next release",
            timeout=90,
        )
        assert cluster.canary()["metadata"].get("finalizers") == [FINALIZER]
        taken = _kinds([r for r in proxies[follower].writes() if 200 <= r.status < 300 and not r.on_lease])
        for kind in ("canaries/status", "canaries", "deployments"):
            assert any(k == kind or k.startswith(kind + "/") for k in taken), (kind, taken)
    finally:
        for op in operators:  # before their proxies, so that their last ticks still reach the emulator
            op.stop()
        for proxy in proxies.values():
            proxy.stop()
