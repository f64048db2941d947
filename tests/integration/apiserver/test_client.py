"""Conformance of the API emulator as seen by the official `kubernetes` Python client: typed APIs,
CustomObjectsApi and watch.Watch. Each test names the Kubernetes behaviour it pins, and runs on the
emulator and on the real kube-apiserver (the `server` fixture)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import kubernetes
import pytest
from kubernetes.client import (
    ApiextensionsV1Api,
    AppsV1Api,
    CoordinationV1Api,
    CoreV1Api,
    CustomObjectsApi,
    EventsV1Api,
)
from kubernetes.client.exceptions import ApiException

from sandbox.apiserver.testing import RunningApiServer
from tests.integration.apiserver.clients import GROUP, WIDGET_CRD, Server, emulator_only, widget
from tests.polling import eventually

Watch: Any = kubernetes.watch.Watch  # untyped in the client


def _status(err: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.body or "{}")
    return body


def _cm(name: str, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, **meta}, "data": {"k": "v"}}


def _deployment(name: str = "web", replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            },
        },
    }


def _install_crd(api: kubernetes.client.ApiClient) -> None:
    """Create the Widget CRD and wait until it is Established (the real server sets the conditions a
    moment after the create; the emulator at once, see sandbox/apiserver/README.md)."""
    extensions: Any = ApiextensionsV1Api(api)
    extensions.create_custom_resource_definition(WIDGET_CRD)

    def conditions() -> dict[str, str]:
        crd = extensions.read_custom_resource_definition(f"widgets.{GROUP}")
        found = {c.type: c.status for c in crd.status.conditions or []}
        return found if found.get("Established") == "True" else {}

    found = eventually(conditions, "the CRD to be Established", timeout=20, every=0.05)
    assert found == {"NamesAccepted": "True", "Established": "True"}


def test_create_get_conflicts_and_generate_name(
    server: Server, api_client: kubernetes.client.ApiClient
) -> None:
    """create answers 201 with uid/resourceVersion/creationTimestamp; a second create is 409
    AlreadyExists; generateName appends a random suffix; a bad name is 422 Invalid."""
    ns = server.namespace
    core: Any = CoreV1Api(api_client)
    made = core.create_namespaced_config_map(ns, _cm("one"))
    assert made.metadata.uid and made.metadata.resource_version and made.metadata.creation_timestamp
    assert core.read_namespaced_config_map("one", ns).data == {"k": "v"}
    with pytest.raises(ApiException) as dup:
        core.create_namespaced_config_map(ns, _cm("one"))
    assert dup.value.status == 409
    assert _status(dup.value)["reason"] == "AlreadyExists"
    assert _status(dup.value)["message"] == 'configmaps "one" already exists'
    generated = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}})
    assert generated.metadata.name.startswith("gen-") and len(generated.metadata.name) == 9
    with pytest.raises(ApiException) as bad:
        core.create_namespaced_config_map(ns, _cm("Bad_Name"))
    assert bad.value.status == 422
    cause = _status(bad.value)["details"]["causes"][0]
    assert cause["field"] == "metadata.name" and "RFC 1123 subdomain" in cause["message"]
    with pytest.raises(ApiException) as nons:
        core.create_namespaced_config_map("nowhere", _cm("x"))
    assert nons.value.status == 404 and _status(nons.value)["message"] == 'namespaces "nowhere" not found'


def test_replace_with_stale_resource_version_conflicts(
    server: Server, api_client: kubernetes.client.ApiClient
) -> None:
    """PUT with an outdated metadata.resourceVersion answers 409 Conflict with the API server's
    message; with the current one it succeeds and bumps the version (one global counter)."""
    ns = server.namespace
    core: Any = CoreV1Api(api_client)
    made = core.create_namespaced_config_map(ns, _cm("cfg"))
    made.data = {"k": "v2"}
    updated = core.replace_namespaced_config_map("cfg", ns, made)
    assert int(updated.metadata.resource_version) > int(made.metadata.resource_version)
    made.data = {"k": "v3"}
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_config_map("cfg", ns, made)
    assert stale.value.status == 409
    assert _status(stale.value)["message"] == (
        'Operation cannot be fulfilled on configmaps "cfg": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    other = core.create_namespaced_config_map(ns, _cm("other"))
    assert int(other.metadata.resource_version) > int(updated.metadata.resource_version)


def test_list_selectors_and_paging(server: Server, api_client: kubernetes.client.ApiClient) -> None:
    """LIST honours labelSelector, fieldSelector (metadata.name) and limit/continue paging with a
    remainingItemCount, and carries the list's resourceVersion."""
    ns = server.namespace
    core: Any = CoreV1Api(api_client)
    for i in range(5):
        core.create_namespaced_config_map(
            ns, _cm(f"c{i}", labels={"parity": "even" if i % 2 == 0 else "odd"})
        )
    assert [
        c.metadata.name for c in core.list_namespaced_config_map(ns, label_selector="parity=odd").items
    ] == ["c1", "c3"]
    assert [
        c.metadata.name for c in core.list_namespaced_config_map(ns, field_selector="metadata.name=c2").items
    ] == ["c2"]
    # the real server's namespace also holds kube-root-ca.crt (sorted after c4); the pages are the list
    everything = [c.metadata.name for c in core.list_namespaced_config_map(ns).items]
    assert everything[:5] == ["c0", "c1", "c2", "c3", "c4"]
    page = core.list_namespaced_config_map(ns, limit=2)
    assert [c.metadata.name for c in page.items] == ["c0", "c1"]
    assert page.metadata.remaining_item_count == len(everything) - 2 and page.metadata._continue
    rest = core.list_namespaced_config_map(ns, limit=10, _continue=page.metadata._continue)
    assert [c.metadata.name for c in rest.items] == everything[2:]
    assert rest.metadata._continue is None
    assert int(page.metadata.resource_version) >= 1


def test_builtin_defaults_secret_and_service(server: Server, api_client: kubernetes.client.ApiClient) -> None:
    """Secret stringData is folded into base64 data; a Service gets a cluster IP and port defaults,
    and keeps its clusterIP across an update that omits it."""
    ns = server.namespace
    core: Any = CoreV1Api(api_client)
    secret = core.create_namespaced_secret(ns, {"metadata": {"name": "s"}, "stringData": {"pw": "hunter2"}})
    assert secret.data == {"pw": "aHVudGVyMg=="} and secret.string_data is None and secret.type == "Opaque"
    svc = core.create_namespaced_service(
        ns, {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    )
    assert svc.spec.cluster_ip.startswith("10.9")
    assert svc.spec.ports[0].target_port == 80 and svc.spec.ports[0].protocol == "TCP"
    body = {
        "metadata": {"name": "web", "resourceVersion": svc.metadata.resource_version},
        "spec": {"selector": {"app": "web2"}, "ports": [{"port": 80}]},
    }
    again = core.replace_namespaced_service("web", ns, body)
    assert again.spec.cluster_ip == svc.spec.cluster_ip and again.spec.selector == {"app": "web2"}


def test_deployment_status_and_scale_subresources(
    server: Server, api_client: kubernetes.client.ApiClient
) -> None:
    """Writes to /status change only status and keep generation; writes to the object never change
    status and bump generation on spec changes; the scale subresource is an autoscaling/v1 Scale."""
    ns = server.namespace
    apps: Any = AppsV1Api(api_client)
    made = apps.create_namespaced_deployment(ns, _deployment())
    assert made.metadata.generation == 1 and made.spec.strategy.type == "RollingUpdate"
    status = apps.patch_namespaced_deployment_status(
        "web",
        ns,
        {"spec": {"replicas": 9}, "status": {"replicas": 2, "readyReplicas": 2, "observedGeneration": 1}},
    )
    assert status.status.ready_replicas == 2 and status.spec.replicas == 2
    assert status.metadata.generation == 1
    main = apps.patch_namespaced_deployment(
        "web", ns, {"spec": {"replicas": 3}, "status": {"readyReplicas": 0}}
    )
    assert main.spec.replicas == 3 and main.status.ready_replicas == 2 and main.metadata.generation == 2
    labels_only = apps.patch_namespaced_deployment("web", ns, {"metadata": {"labels": {"x": "y"}}})
    assert labels_only.metadata.generation == 2
    scale = apps.read_namespaced_deployment_scale("web", ns)
    assert scale.spec.replicas == 3 and scale.status.replicas == 2 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 5}})
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 5
    with pytest.raises(ApiException) as bad:
        apps.create_namespaced_deployment(
            ns,
            {
                **_deployment("mismatch"),
                "spec": {**_deployment("mismatch")["spec"], "selector": {"matchLabels": {"app": "other"}}},
            },
        )
    assert bad.value.status == 422
    assert _status(bad.value)["details"]["causes"][0]["field"] == "spec.template.metadata.labels"


def test_strategic_merge_directives(server: Server, api_client: kubernetes.client.ApiClient) -> None:
    """Strategic merge patch: env merged by name, `$patch: delete` removes a keyed item, conditions
    merge by type, finalizers merge as a set; the merged list takes the patch's order, an item new to
    the server before those only the server had (strategicpatch's normalizeElementOrder)."""
    ns = server.namespace
    apps: Any = AppsV1Api(api_client)
    dep = _deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
    ]
    dep["metadata"]["finalizers"] = ["example.com/a"]
    apps.create_namespaced_deployment(ns, dep)
    patched = apps.patch_namespaced_deployment(
        "web",
        ns,
        {
            "metadata": {"finalizers": ["example.com/b", "example.com/a"]},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}],
                            }
                        ]
                    }
                }
            },
        },
    )
    env = patched.spec.template.spec.containers[0].env
    assert [(e.name, e.value) for e in env] == [("C", "3"), ("A", "1")]
    assert patched.metadata.finalizers == ["example.com/b", "example.com/a"]
    apps.patch_namespaced_deployment_status(
        "web",
        ns,
        {
            "status": {
                "conditions": [
                    {"type": "Available", "status": "False"},
                    {"type": "Progressing", "status": "True"},
                ]
            }
        },
    )
    merged = apps.patch_namespaced_deployment_status(
        "web", ns, {"status": {"conditions": [{"type": "Available", "status": "True"}]}}
    )
    assert [(c.type, c.status) for c in merged.status.conditions] == [
        ("Available", "True"),
        ("Progressing", "True"),
    ]


def test_lease_optimistic_concurrency(server: Server, api_client: kubernetes.client.ApiClient) -> None:
    """coordination.k8s.io/v1 Lease: two writers racing on one resourceVersion, one wins (409)."""
    ns = server.namespace
    leases: Any = CoordinationV1Api(api_client)
    lease = leases.create_namespaced_lease(
        ns, {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
    )
    lease.spec.holder_identity = "b"
    leases.replace_namespaced_lease("leader", ns, lease)
    lease.spec.holder_identity = "c"
    with pytest.raises(ApiException) as lost:
        leases.replace_namespaced_lease("leader", ns, lease)
    assert lost.value.status == 409
    assert leases.read_namespaced_lease("leader", ns).spec.holder_identity == "b"


def test_custom_objects_crud_validation_and_status(
    server: Server, api_client: kubernetes.client.ApiClient
) -> None:
    """A CRD's resources are served at once; custom objects are defaulted and validated from the
    openAPIV3Schema (422 with causes[].field); merge and JSON patch work; /status writes only status."""
    ns = server.namespace
    _install_crd(api_client)
    objs: Any = CustomObjectsApi(api_client)
    made = objs.create_namespaced_custom_object(GROUP, "v1", ns, "widgets", widget("w1"))
    assert made["spec"] == {"size": 3, "color": "red"} and made["metadata"]["generation"] == 1
    assert "status" not in made
    with pytest.raises(ApiException) as bad:
        objs.create_namespaced_custom_object(GROUP, "v1", ns, "widgets", widget("w2", size=11, color="blue"))
    assert bad.value.status == 422
    body = _status(bad.value)
    assert body["reason"] == "Invalid" and body["details"]["kind"] == "Widget"
    assert {c["field"] for c in body["details"]["causes"]} == {"spec.size", "spec.color"}
    assert body["message"].startswith('Widget.test.serinus.dev "w2" is invalid: ')

    objs.patch_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w1", {"spec": {"note": "hi"}})
    patched = objs.patch_namespaced_custom_object(
        GROUP,
        "v1",
        ns,
        "widgets",
        "w1",
        [
            {"op": "test", "path": "/spec/note", "value": "hi"},
            {"op": "replace", "path": "/spec/size", "value": 4},
        ],
        _content_type="application/json-patch+json",
    )
    assert patched["spec"]["size"] == 4 and patched["metadata"]["generation"] == 3

    status = objs.patch_namespaced_custom_object_status(
        GROUP, "v1", ns, "widgets", "w1", {"spec": {"size": 9}, "status": {"phase": "Ready", "weight": 5}}
    )
    assert status["status"] == {"phase": "Ready", "weight": 5}
    assert status["spec"]["size"] == 4 and status["metadata"]["generation"] == 3
    listed = objs.list_namespaced_custom_object(GROUP, "v1", ns, "widgets")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w1"]
    assert objs.get_namespaced_custom_object(GROUP, "v1", ns, "widgets", "w1")["status"]["weight"] == 5


def test_deleting_a_crd_removes_its_objects(server: Server, api_client: kubernetes.client.ApiClient) -> None:
    """Deleting a CRD deletes its custom objects and then stops serving the resource (404)."""
    ns = server.namespace
    _install_crd(api_client)
    objs: Any = CustomObjectsApi(api_client)
    objs.create_namespaced_custom_object(GROUP, "v1", ns, "widgets", widget("w1"))
    extensions: Any = ApiextensionsV1Api(api_client)
    extensions.delete_custom_resource_definition(f"widgets.{GROUP}")

    def gone() -> bool:
        try:
            objs.list_namespaced_custom_object(GROUP, "v1", ns, "widgets")
        except ApiException as err:
            return bool(err.status == 404)
        return False

    eventually(gone, "the widgets resource to disappear", timeout=10, every=0.05)
    with pytest.raises(ApiException):
        extensions.read_custom_resource_definition(f"widgets.{GROUP}")


def test_finalizers_hold_deletion(server: Server, api_client: kubernetes.client.ApiClient) -> None:
    """DELETE of an object with finalizers sets deletionTimestamp and keeps it; removing the last
    finalizer removes the object."""
    ns = server.namespace
    core: Any = CoreV1Api(api_client)
    core.create_namespaced_config_map(ns, _cm("held", finalizers=["example.com/keep"]))
    core.delete_namespaced_config_map("held", ns)
    held = core.read_namespaced_config_map("held", ns)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", ns, [{"op": "remove", "path": "/metadata/finalizers"}])
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("held", ns)
    assert gone.value.status == 404


def test_garbage_collection_by_owner_references(
    server: Server, api_client: kubernetes.client.ApiClient
) -> None:
    """Background propagation deletes dependents of a deleted owner; Orphan keeps them and strips
    the owner reference, Foreground deletes dependents, before the owner goes: both answer the owner
    being deleted, its policy a finalizer the garbage collector removes."""
    ns = server.namespace
    apps: Any = AppsV1Api(api_client)
    core: Any = CoreV1Api(api_client)

    def owned(owner: Any, name: str) -> None:
        ref = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": owner.metadata.name,
            "uid": owner.metadata.uid,
            "blockOwnerDeletion": True,
        }
        core.create_namespaced_config_map(ns, _cm(name, ownerReferences=[ref]))

    def exists(name: str) -> bool:
        return any(c.metadata.name == name for c in core.list_namespaced_config_map(ns).items)

    background = apps.create_namespaced_deployment(ns, _deployment("bg"))
    owned(background, "bg-dep")
    apps.delete_namespaced_deployment("bg", ns)
    eventually(lambda: not exists("bg-dep"), "the dependent to be collected", timeout=10, every=0.05)

    orphaning = apps.create_namespaced_deployment(ns, _deployment("orph"))
    owned(orphaning, "orph-dep")
    deleting = apps.delete_namespaced_deployment(
        "orph", ns, propagation_policy="Orphan", _preload_content=False
    )
    meta = json.loads(deleting.data)["metadata"]
    assert meta["deletionTimestamp"] and meta["finalizers"] == ["orphan"]
    eventually(  # the garbage collector strips the reference, then lets the owner go
        lambda: "orph" not in [d.metadata.name for d in apps.list_namespaced_deployment(ns).items],
        "the orphaning owner to go",
        timeout=10,
        every=0.05,
    )
    kept = core.read_namespaced_config_map("orph-dep", ns)
    assert kept.metadata.owner_references is None

    foreground = apps.create_namespaced_deployment(ns, _deployment("fg"))
    owned(foreground, "fg-dep")
    deleting = apps.delete_namespaced_deployment(
        "fg", ns, propagation_policy="Foreground", _preload_content=False
    )
    meta = json.loads(deleting.data)["metadata"]  # the owner stays, being deleted, until dependents go
    assert meta["deletionTimestamp"] and meta["finalizers"] == ["foregroundDeletion"]
    eventually(lambda: not exists("fg-dep"), "the foreground dependent to go", timeout=10, every=0.05)
    eventually(
        lambda: "fg" not in [d.metadata.name for d in apps.list_namespaced_deployment(ns).items],
        "the foreground owner to go",
        timeout=10,
        every=0.05,
    )


def test_events_in_core_and_events_api(server: Server, api_client: kubernetes.client.ApiClient) -> None:
    """core/v1 Events and events.k8s.io/v1 Events are one resource in two shapes (message/note).
    (Created over raw HTTP: the client would send eventTime without the microseconds a MicroTime
    needs, which the real server refuses.)"""
    ns = server.namespace
    events: Any = EventsV1Api(api_client)
    status, _, body = server.http(
        f"/api/v1/namespaces/{ns}/events",
        "POST",
        {
            "metadata": {"name": "e1"},
            "message": "scaled",
            "reason": "Scaled",
            "type": "Normal",
            "action": "Scale",
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingComponent": "serinus",
            "reportingInstance": "serinus-0",
            "involvedObject": {"kind": "Deployment", "name": "web", "namespace": ns},
        },
    )
    assert status == 201, body
    new = events.read_namespaced_event("e1", ns)
    assert new.note == "scaled" and new.regarding.name == "web" and new.reporting_controller == "serinus"


def test_watch_streams_and_resumes(server: Server, api_client: kubernetes.client.ApiClient) -> None:
    """watch.Watch: ADDED/MODIFIED/DELETED after a resourceVersion, honouring timeoutSeconds;
    resuming from a seen resourceVersion replays only later events; an object leaving the selector
    reads as DELETED."""
    ns = server.namespace
    core: Any = CoreV1Api(api_client)
    start = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, _cm("w"))
    core.patch_namespaced_config_map("w", ns, {"data": {"k": "v2"}})
    core.delete_namespaced_config_map("w", ns)
    seen = [
        (e["type"], e["object"].metadata.name, e["object"].metadata.resource_version)
        for e in Watch().stream(
            core.list_namespaced_config_map, ns, resource_version=start, timeout_seconds=1
        )
    ]
    assert [t for t, _, _ in seen] == ["ADDED", "MODIFIED", "DELETED"]
    resumed = [
        e["type"]
        for e in Watch().stream(
            core.list_namespaced_config_map, ns, resource_version=seen[0][2], timeout_seconds=1
        )
    ]
    assert resumed == ["MODIFIED", "DELETED"]

    live: list[str] = []
    watcher = Watch()

    def consume() -> None:
        for event in watcher.stream(
            core.list_namespaced_config_map, ns, label_selector="live=yes", timeout_seconds=5
        ):
            live.append(f"{event['type']} {event['object'].metadata.name}")
            if len(live) == 2:
                watcher.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    time.sleep(0.5)  # the watch without resourceVersion starts from "now"
    core.create_namespaced_config_map(ns, _cm("ignored"))
    core.create_namespaced_config_map(ns, _cm("seen", labels={"live": "yes"}))
    core.patch_namespaced_config_map("seen", ns, {"metadata": {"labels": {"live": "no"}}})
    thread.join(10)
    assert live == ["ADDED seen", "DELETED seen"]  # leaving the selector reads as DELETED


@emulator_only(
    "the retained watch history is an emulator switch (set_history_limit); the real server's "
    "watch cache keeps its own window and etcd compacts every 5 minutes"
)
def test_watch_of_an_expired_version_raises_410(
    apiserver: RunningApiServer, server: Server, api_client: kubernetes.client.ApiClient
) -> None:
    """A resourceVersion older than the retained history ends the watch with an ERROR 410 Expired,
    which watch.Watch raises as ApiException 410."""
    ns = server.namespace
    core: Any = CoreV1Api(api_client)
    start = core.list_namespaced_config_map(ns).metadata.resource_version
    apiserver.set_history_limit(2)
    for i in range(4):
        core.create_namespaced_config_map(ns, _cm(f"churn{i}"))
    with pytest.raises(ApiException) as expired:
        list(Watch().stream(core.list_namespaced_config_map, ns, resource_version=start, timeout_seconds=1))
    assert expired.value.status == 410
