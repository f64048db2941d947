"""Every file in examples/ on the real kube-apiserver v1.37.2, with kubectl's default strict field
validation: created (``kubectl create``) and server-side applied, with no warning; stored with what it
says kept and the same defaults the emulator fills in. A field the schema does not declare is refused
by both servers with the same message, so the absence of refusals means something.

And the objects Serinus' providers write for each example Canary (HTTPRoute, VirtualService and
DestinationRules, TrafficSplit, the canary Ingress, the apex Service), written through the production
router adapter with strict validation against the upstream mesh CRDs of the corpus, are accepted and
read back carrying the split. The upstream CRDs are installed in API groups of the module's own
(``gateway.networking.k8s.io.<token>.serinus.test``; the schemas are the upstream ones, unchanged)
and deleted after it: other suites install the sandbox's reduced CRDs under the real names on the
shared server, and each must find its own definition there.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.kube.objects import Obj, Resource
from controller.routers import RouterAdapter, Weights, get_router
from controller.routers.target import route_target
from tests.integration.kubernetes.cluster import (
    EXAMPLES,
    Kubectl,
    Servers,
    ensure_crds,
    mesh_crds,
    regrouped,
    without_status,
)

pytestmark = [pytest.mark.integration, pytest.mark.real_control_plane]

CANARIES = [p for p in EXAMPLES if yaml.safe_load(p.read_text())["kind"] == "Canary"]


def _in(path: Path, namespace: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(path.read_text())
    obj["metadata"]["namespace"] = namespace
    return obj


def _text(path: Path, namespace: str) -> str:
    """The example file as written (comments, key order, any duplicate key kept), in `namespace`."""
    text = path.read_text()
    assert text.count("\n  namespace: shop\n") == 1, f"{path.name}: expected one metadata.namespace: shop"
    return text.replace("\n  namespace: shop\n", f"\n  namespace: {namespace}\n")


def _ref(obj: Mapping[str, Any]) -> list[str]:
    kind = f"{obj['kind'].lower()}.{obj['apiVersion'].split('/')[0]}"
    return [f"{kind}/{obj['metadata']['name']}", "-n", obj["metadata"]["namespace"]]


def _contains(big: Any, small: Any, path: str = "") -> Iterator[str]:
    """Where `big` lacks or changes what `small` says (the server may only add)."""
    if isinstance(small, dict):
        if not isinstance(big, dict):
            yield f"{path}: {big!r} is not an object"
            return
        for key, value in small.items():
            yield from _contains(big.get(key), value, f"{path}.{key}")
    elif isinstance(small, list):
        if not isinstance(big, list) or len(big) != len(small):
            yield f"{path}: {big!r} is not {small!r}"
            return
        for index, (got, want) in enumerate(zip(big, small, strict=True)):
            yield from _contains(got, want, f"{path}[{index}]")
    elif big != small:
        yield f"{path}: {big!r} is not {small!r}"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_example_is_accepted_strictly_and_stored_as_the_emulator_stores_it(
    servers: Servers, path: Path
) -> None:
    namespace = servers.namespace("example")
    obj = _in(path, namespace)
    text = _text(path, namespace)
    created = servers.kube.run("create", "-f", "-", stdin=text)
    assert created.stderr == ""  # no warning (unknown or duplicate field, deprecation)
    applied = servers.kube.run("apply", "--server-side", "--field-manager=examples", "-f", "-", stdin=text)
    assert applied.stderr == ""
    assert (
        applied.stdout.strip()
        == f"{obj['kind'].lower()}.serinus.dev/{obj['metadata']['name']} serverside-applied"
    )

    stored = servers.kube.json("get", *_ref(obj))
    assert list(_contains(stored, obj)) == []  # defaulting only adds
    servers.emu.run("create", "-f", "-", stdin=text)
    emulated = servers.emu.json("get", *_ref(obj))
    assert emulated["spec"] == stored["spec"]  # the same defaults, the same pruning


def test_an_unknown_field_is_refused_by_both_servers_alike(servers: Servers) -> None:
    namespace = servers.namespace("strict")
    obj = _in(CANARIES[0], namespace)
    obj["spec"]["canaryAnalysis"] = {"interval": "1m"}  # Flagger's old name
    obj["spec"]["analysis"]["metrics"][0]["query"] = "up"
    answers = []
    for kubectl in (servers.kube, servers.emu):
        refused = kubectl.run("create", "-f", "-", stdin=json.dumps(obj), check=False)
        assert refused.returncode == 1, refused.stdout
        answers.append(refused.stderr.strip())
    assert answers[0] == (
        'Error from server (BadRequest): error when creating "STDIN": Canary in version "v1alpha1" cannot be '
        'handled as a Canary: strict decoding error: unknown field "spec.analysis.metrics[0].query", '
        'unknown field "spec.canaryAnalysis"'
    )
    assert answers[1] == answers[0]


class StrictObjects:
    """The `Objects` port over kubectl, so every write is validated strictly (kubectl's default
    ``fieldValidation=Strict``) and any warning fails the test. Objects of a group in `groups` go to
    the group it maps to (and come back under their own). Only what routers use is here."""

    def __init__(self, kubectl: Kubectl, groups: Mapping[str, str]) -> None:
        self.kubectl = kubectl
        self.groups = dict(groups)
        self.back = {new: old for old, new in self.groups.items()}

    def _moved(self, obj: Mapping[str, Any], groups: Mapping[str, str]) -> Obj:
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        return {**obj, "apiVersion": f"{groups[group]}/{version}"} if group in groups else dict(obj)

    def get(self, res: Resource, namespace: str, name: str) -> Obj | None:
        group = self.groups.get(res.group, res.group)
        kind = f"{res.plural}.{group}" if group else res.plural
        done = self.kubectl.run("get", f"{kind}/{name}", "-n", namespace, "-o", "json", check=False)
        if done.returncode != 0:
            assert "NotFound" in done.stderr, done.stderr
            return None
        return self._moved(json.loads(done.stdout), self.back)

    def _write(self, verb: str, body: Mapping[str, Any]) -> Obj:
        done = self.kubectl.run(
            verb, "-f", "-", "-o", "json", stdin=json.dumps(self._moved(body, self.groups))
        )
        assert done.stderr == "", done.stderr
        return self._moved(json.loads(done.stdout), self.back)

    def create(self, res: Resource, namespace: str, body: Mapping[str, Any]) -> Obj:
        assert body["metadata"]["namespace"] == namespace
        return self._write("create", body)

    def replace(self, res: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        assert (body["metadata"]["namespace"], body["metadata"]["name"]) == (namespace, name)
        return self._write("replace", body)

    def replace_status(self, res: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        raise AssertionError("routers write no status")

    def merge_patch(self, res: Resource, namespace: str, name: str, patch: Mapping[str, Any]) -> Obj:
        raise AssertionError("routers do not patch")

    def scale(self, res: Resource, namespace: str, name: str, replicas: int) -> Obj:
        raise AssertionError("routers do not scale")


@dataclasses.dataclass
class Meshes:
    """The real server with the upstream mesh CRDs in groups of the module's own."""

    servers: Servers
    groups: dict[str, str]  # upstream group -> the module's group


@pytest.fixture(scope="module")
def meshes(servers: Servers) -> Iterator[Meshes]:
    """The upstream mesh CRDs (corpus) installed in groups of this module's own, deleted after it."""
    suffix = f"u{secrets.token_hex(3)}.serinus.test"
    upstream = mesh_crds()
    groups = {crd["spec"]["group"]: f"{crd['spec']['group']}.{suffix}" for crd in upstream}
    moved = [regrouped(crd, groups[crd["spec"]["group"]]) for crd in upstream]
    ensure_crds(servers.kube, moved)
    try:
        yield Meshes(servers, groups)
    finally:
        names = [crd["metadata"]["name"] for crd in moved]
        servers.kube.run("delete", "crd", "--ignore-not-found", "--wait=false", *names)


def _source_objects(kubectl: Kubectl, canary: Mapping[str, Any], port: int) -> None:
    """What a provider derives its route from: the apex Service (kubernetes), the user's Ingress (nginx)."""
    namespace, provider = canary["metadata"]["namespace"], canary["spec"]["provider"]
    if provider == "kubernetes":
        service = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "podinfo", "namespace": namespace},
                   "spec": {"selector": {"app": "podinfo-primary"},
                            "ports": [{"name": "http", "port": port}]}}  # fmt: skip
        kubectl.run("create", "-f", "-", stdin=json.dumps(service))
    if provider == "nginx":
        backend = {"service": {"name": "podinfo", "port": {"number": port}}}
        ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": canary["spec"]["ingressRef"]["name"], "namespace": namespace},
                   "spec": {"ingressClassName": "nginx", "rules": [{"host": "podinfo.example.com", "http": {
                       "paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]}}  # fmt: skip
        kubectl.run("create", "-f", "-", stdin=json.dumps(ingress))


@pytest.mark.parametrize("path", CANARIES, ids=[p.name for p in CANARIES])
def test_the_mesh_objects_written_for_the_example_are_accepted_by_the_upstream_crds(
    meshes: Meshes, path: Path
) -> None:
    namespace = meshes.servers.namespace("mesh")
    kube = meshes.servers.kube
    kube.run("create", "-f", "-", stdin=json.dumps(_in(path, namespace)))
    canary = without_status(kube.json("get", "canary.serinus.dev/podinfo", "-n", namespace))
    provider, analysis = canary["spec"]["provider"], canary["spec"]["analysis"]
    _source_objects(kube, canary, canary["spec"]["service"]["port"])
    target = route_target(canary)
    if provider == "kubernetes":
        target = dataclasses.replace(
            target, primary_selector={"app": "podinfo-primary"}, canary_selector={"app": "podinfo"}
        )
    match = analysis.get("match")
    steps = [Weights(100, 0), Weights(0, 100)] if provider == "kubernetes" or match else [
        Weights(100, 0), Weights(90, 10), Weights(100, 0)]  # fmt: skip
    objects = StrictObjects(kube, meshes.groups)
    router = RouterAdapter(objects, get_router(provider))
    for weights in steps:
        assert router.set_weights(target, weights, match) == weights, provider
    provider_impl = get_router(provider)
    ref = provider_impl.route_ref(target)
    stored = objects.get(ref.resource, namespace, ref.name)
    assert stored is not None
    owners = stored["metadata"].get("ownerReferences") or []
    assert [(o["kind"], o["name"], o.get("blockOwnerDeletion")) for o in owners] == [
        ("Canary", "podinfo", True)
    ]
    for aux in provider_impl.auxiliary(target):
        assert objects.get(aux.resource, namespace, aux.name) is not None, aux.name


INVALID_ROUTES = [
    ("gateway.networking.k8s.io/v1", "HTTPRoute",
     {"rules": [{"backendRefs": [{"name": "podinfo-primary", "port": 9898, "weight": -1}]}]},
     "spec.rules[0].backendRefs[0].weight: Invalid value: -1"),
    ("networking.istio.io/v1beta1", "VirtualService",
     {"hosts": ["podinfo"],
      "http": [{"route": [{"destination": {"host": "podinfo-primary"}, "weight": "fifty"}]}]},
     "spec.http[0].route[0].weight: Invalid value: \"string\""),
    ("networking.istio.io/v1beta1", "DestinationRule", {"host": 5}, "spec.host: Invalid value: \"integer\""),
    ("split.smi-spec.io/v1alpha2", "TrafficSplit",
     {"service": "podinfo", "backends": [{"service": "podinfo-primary", "weight": "all"}]},
     "spec.backends[0].weight: Invalid value: \"string\""),
]  # fmt: skip


@pytest.mark.parametrize("case", INVALID_ROUTES, ids=[c[1] for c in INVALID_ROUTES])
def test_the_upstream_crds_refuse_a_bad_route_so_acceptance_means_something(
    meshes: Meshes, case: tuple[str, str, dict[str, Any], str]
) -> None:
    api_version, kind, spec, error = case
    group, _, version = api_version.partition("/")
    namespace = meshes.servers.namespace("badroute")
    body = {"apiVersion": f"{meshes.groups[group]}/{version}", "kind": kind,
            "metadata": {"name": "bad", "namespace": namespace}, "spec": spec}  # fmt: skip
    refused = meshes.servers.kube.run("create", "-f", "-", stdin=json.dumps(body), check=False)
    assert refused.returncode == 1, refused.stdout
    assert "is invalid" in refused.stderr and error in refused.stderr, refused.stderr
