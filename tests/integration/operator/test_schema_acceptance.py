"""Every object `serinus run` writes is accepted by the API emulator's schema validation, for every router.

One operator runs five Canaries at once, one per provider (`gatewayapi`, `istio`, `smi`, `nginx`,
`kubernetes`), against the emulator with the real mesh CRDs of `sandbox/crds/` registered (the
emulator validates custom objects against their CRD's OpenAPI schema and answers 422 when one does
not conform; Serinus' own Canary CRD, status included, is validated the same way). The operator talks
to the emulator through a counting proxy (`tests.integration.operator.counting_proxy`), which records
the answer to every write. Each Canary bootstraps and promotes a new image in steps (25, 50).

Pinned: not one write of the whole run is refused as invalid (no 422, no 400), every provider's mesh
objects were written successfully, and the objects read back from the API carry the weights: while the
runs progress, each weighted provider's object is seen at 25 and 50 to the canary (always summing to
100); at the end every object routes 100/0 to the primary (for `kubernetes`, the apex Service selects
the primary's pods).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import NetworkingV1Api
from kubernetes.client.exceptions import ApiException

from controller.routers.nginx import CANARY, WEIGHT
from sandbox.apiserver.kubeconfig import write_kubeconfig
from sandbox.gitserver import commit_files
from sandbox.prometheus import PrometheusServer
from tests.integration.operator.conftest import (
    NEW,
    NS,
    OLD,
    ROOT,
    Cluster,
    Fleet,
    Operator,
    canary_body,
)
from tests.integration.operator.counting_proxy import Request
from tests.polling import eventually

PROVIDERS = ("gatewayapi", "istio", "smi", "nginx", "kubernetes")
MESH_CRDS = ("virtualservices.networking.istio.io", "destinationrules.networking.istio.io",
             "trafficsplits.split.smi-spec.io")  # fmt: skip
"""Registered here; the `cluster` fixture already registers the HTTPRoute CRD of `sandbox/crds/`."""
WRITTEN = {
    "gatewayapi": ["httproutes"],
    "istio": ["virtualservices", "destinationrules"],
    "smi": ["trafficsplits"],
    "nginx": ["ingresses"],
    "kubernetes": ["services"],
}
"""The mesh objects each provider must have written (collection names in the API paths)."""

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: {image}
"""

Weights = tuple[int, int]


def _manifest(provider: str, image: str) -> str:
    return MANIFEST.format(name=_app(provider), image=image)


def _app(provider: str) -> str:
    return f"web-{provider}"


def _path(provider: str) -> str:
    return f"apps/{_app(provider)}.yaml"


def _networking(cluster: Cluster) -> Any:
    """The typed Ingress client, loosely typed: the tests read and write plain shapes."""
    return NetworkingV1Api(cluster.api)


def _custom(cluster: Cluster, group: str, version: str, plural: str, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = cluster.objs.get_namespaced_custom_object(group, version, NS, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return obj


def _pair(by_name: dict[str, int], app: str) -> Weights:
    return by_name.get(f"{app}-primary", 0), by_name.get(f"{app}-canary", 0)


def read_weights(cluster: Cluster, provider: str) -> Weights | None:
    """``(primary, canary)`` as the provider's object stored in the API says (None before it exists).

    Parsed here from the stored objects, independently of the routers' own read-back."""
    app = _app(provider)
    if provider == "gatewayapi":
        route = _custom(cluster, "gateway.networking.k8s.io", "v1", "httproutes", app)
        if route is None:
            return None
        return _pair({b["name"]: b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]}, app)
    if provider == "istio":
        service = _custom(cluster, "networking.istio.io", "v1beta1", "virtualservices", app)
        if service is None:
            return None
        dests = service["spec"]["http"][0]["route"]
        return _pair({d["destination"]["host"]: d.get("weight", 100) for d in dests}, app)
    if provider == "smi":
        split = _custom(cluster, "split.smi-spec.io", "v1alpha2", "trafficsplits", app)
        if split is None:
            return None
        return _pair({b["service"]: b["weight"] for b in split["spec"]["backends"]}, app)
    if provider == "nginx":
        try:
            ingress = _networking(cluster).read_namespaced_ingress(f"{app}-canary", NS)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        annotations = ingress.metadata.annotations or {}
        if annotations.get(CANARY) != "true":
            return None
        canary = int(annotations.get(WEIGHT, "0"))
        return 100 - canary, canary
    # kubernetes: blue/green through the apex Service's selector
    try:
        apex = cluster.core.read_namespaced_service(app, NS)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    selector = apex.spec.selector or {}
    if selector == {"app": f"{app}-primary"}:
        return 100, 0
    if selector == {"app": app}:
        return 0, 100
    raise AssertionError(f"apex Service {app} selects {selector}, neither the primary nor the target")


class WeightSampler:
    """Reads every provider's object from the API a few times a second, keeping each distinct value."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.seen: dict[str, list[Weights]] = {p: [] for p in PROVIDERS}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="weight-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for provider in PROVIDERS:
                try:
                    weights = read_weights(self.cluster, provider)
                except ApiException:
                    continue
                if weights is not None and (not self.seen[provider] or self.seen[provider][-1] != weights):
                    self.seen[provider].append(weights)
            self._stop.wait(0.05)

    def __enter__(self) -> WeightSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _install_mesh_crds(cluster: Cluster) -> None:
    for name in MESH_CRDS:
        body = yaml.safe_load((ROOT / "sandbox" / "crds" / f"{name}.yaml").read_text())
        try:
            cluster.objs.create_cluster_custom_object(
                "apiextensions.k8s.io", "v1", "customresourcedefinitions", body
            )
        except ApiException as exc:
            if exc.status != 409:  # the real server is shared: an earlier test installed them
                raise

    def served() -> bool:
        try:
            _custom(cluster, "networking.istio.io", "v1beta1", "virtualservices", "none")
            _custom(cluster, "split.smi-spec.io", "v1alpha2", "trafficsplits", "none")
        except ApiException:
            return False
        return True

    eventually(served, "the mesh CRDs to be served", timeout=20)


def _canary(fleet: Fleet, provider: str) -> dict[str, Any]:
    app = _app(provider)
    body = canary_body(fleet.url)
    body["metadata"]["name"] = app
    spec = body["spec"]
    spec["targetRef"]["name"] = app
    spec["source"]["git"]["path"] = _path(provider)
    spec["provider"] = provider
    if provider != "gatewayapi":
        del spec["service"]["gatewayRefs"]
    if provider == "istio":
        spec["service"]["hosts"] = [f"{app}.example.com"]
        spec["service"]["gateways"] = ["public-gateway"]
    if provider == "nginx":
        spec["ingressRef"] = {"name": app}
    if provider == "kubernetes":  # blue/green: iterations, no weights
        for key in ("stepWeight", "maxWeight"):
            del spec["analysis"][key]
        spec["analysis"]["iterations"] = 2
    return body


def _ingress(provider: str) -> dict[str, Any]:
    app = _app(provider)
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": app, "namespace": NS},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": f"{app}.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": app, "port": {"number": 9898}}}}]}}]},
    }  # fmt: skip


def _target(request: Request) -> tuple[str, str]:
    """``(collection, object name)`` a write addressed: from the path, or a create's body."""
    parts = request.path.strip("/").split("/")
    at = parts.index("namespaces") if "namespaces" in parts else -1
    rest = parts[at + 2 :] if at >= 0 else parts[-1:]
    if len(rest) >= 2:
        return rest[0], rest[1]
    name = (json.loads(request.body or b"{}").get("metadata") or {}).get("name", "") if request.body else ""
    return rest[0], str(name)


def _all(cluster: Cluster, predicate: Callable[[dict[str, Any]], bool]) -> bool:
    for provider in PROVIDERS:
        obj = _custom(cluster, "serinus.dev", "v1alpha1", "canaries", _app(provider))
        if obj is None or not predicate(dict(obj.get("status") or {})):
            return False
    return True


def test_every_provider_s_writes_are_accepted_and_carry_the_weights(
    cluster: Cluster, fleet: Fleet, prometheus: PrometheusServer, tmp_path: Path, operators: list[Operator]
) -> None:
    """Five Canaries, one per provider, bootstrap and promote under one operator: no write refused as
    invalid, every provider's objects written, weights 25 and 50 seen in the stored objects of the
    weighted providers, and 100/0 everywhere at the end."""
    _install_mesh_crds(cluster)
    cluster.template("vector(100)", prometheus.url)
    commit_files(fleet.path, {_path(p): _manifest(p, OLD) for p in PROVIDERS}, "apps")
    _networking(cluster).create_namespaced_ingress(NS, _ingress("nginx"))
    for provider in PROVIDERS:
        cluster.apps.create_namespaced_deployment(NS, yaml.safe_load(_manifest(provider, OLD)))
        cluster.objs.create_namespaced_custom_object(
            "serinus.dev", "v1alpha1", NS, "canaries", _canary(fleet, provider)
        )

    proxy = cluster.counting_proxy()
    op = Operator(cluster, tmp_path, prometheus.url)
    op.env["KUBECONFIG"] = str(write_kubeconfig(tmp_path / "kubeconfig-proxied", proxy.url))
    try:
        operators.append(op.start())
        initialized = lambda st: st.get("phase") == "Initialized"  # noqa: E731
        eventually(lambda: _all(cluster, initialized), "every Canary Initialized", timeout=60)
        for provider in PROVIDERS:
            assert read_weights(cluster, provider) == (100, 0), provider

        with WeightSampler(cluster) as sampler:
            commit_files(fleet.path, {_path(p): _manifest(p, NEW) for p in PROVIDERS}, "apps: new release")

            def promoted(st: dict[str, Any]) -> bool:
                last = st.get("lastPromotedRevision") or {}
                return st.get("phase") == "Succeeded" and last.get("image") == NEW

            def done() -> bool:
                assert op.process is not None and op.process.poll() is None, "serinus run exited"
                return _all(cluster, promoted)

            eventually(done, "every Canary promoted", timeout=120)
    finally:
        op.stop()  # before the proxy, so that its last requests still reach the emulator
        proxy.stop()

    writes = proxy.writes()
    refused = [(r.method, r.path, r.status, r.body[:300]) for r in writes if r.status in (400, 422)]
    assert refused == [], refused
    accepted = {_target(r) for r in writes if 200 <= r.status < 300}
    for provider, kinds in WRITTEN.items():
        for kind in kinds:
            written = any(k == kind and name.startswith(_app(provider)) for k, name in accepted)
            assert written, (provider, kind, sorted(accepted))
    assert {("canaries", _app(p)) for p in PROVIDERS} <= accepted  # status writes included
    for provider in PROVIDERS:
        seen = sampler.seen[provider]
        assert all(sum(w) == 100 for w in seen), (provider, seen)
        if provider != "kubernetes":
            assert {25, 50} <= {c for _, c in seen}, (provider, seen)
        assert read_weights(cluster, provider) == (100, 0), provider
    statuses = sorted({r.status for r in writes})
    print(f"\n{len(writes)} writes, answers {statuses}; weights seen {sampler.seen}")


INVALID = [
    ("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute",
     {"rules": [{"backendRefs": [{"name": "web-primary", "port": 9898, "weight": -1}]}]}),
    ("networking.istio.io", "v1beta1", "virtualservices", "VirtualService",
     {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web-primary"}, "weight": "fifty"}]}]}),
    ("networking.istio.io", "v1beta1", "destinationrules", "DestinationRule", {"host": 5}),
    ("split.smi-spec.io", "v1alpha2", "trafficsplits", "TrafficSplit",
     {"service": "web", "backends": [{"service": "web-primary", "weight": -1}]}),
]  # fmt: skip


@pytest.mark.parametrize("case", INVALID, ids=[i[3] for i in INVALID])
def test_the_emulator_refuses_invalid_mesh_objects_so_acceptance_means_something(
    cluster: Cluster, case: tuple[str, str, str, str, dict[str, Any]]
) -> None:
    """Each mesh CRD the providers write is schema-validated here: an object with a wrong type or an
    out-of-range weight is answered 422, so the absence of 422 above is a real acceptance."""
    group, version, plural, kind, spec = case
    _install_mesh_crds(cluster)
    body = {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": {"name": "bad"}, "spec": spec}
    with pytest.raises(ApiException) as refused:
        cluster.objs.create_namespaced_custom_object(group, version, NS, plural, body)
    assert refused.value.status == 422, refused.value
