"""Wire-level conformance of the API emulator over raw HTTP: discovery documents, Status errors,
content types (415 for bodies it cannot read), Tables, watch framing (BOOKMARK, initial-events
end, ERROR 410) and admission rules. Each test names the Kubernetes behaviour it pins, and runs on
the emulator and on the real kube-apiserver (the `server` fixture) unless it needs an emulator switch."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from sandbox.apiserver.testing import RunningApiServer
from tests.integration.apiserver.clients import GROUP, WIDGET_CRD, Server, emulator_only, widget
from tests.polling import eventually

CMS = "/api/v1/namespaces/NS/configmaps"
WIDGETS = f"/apis/{GROUP}/v1/namespaces/NS/widgets"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def _install_crd(server: Server) -> None:
    """POST the Widget CRD and wait until its resource is served (the real server establishes it a
    moment after the create, the emulator at once)."""
    status, _, body = server.http(CRDS, "POST", WIDGET_CRD)
    assert status == 201, body
    eventually(
        lambda: server.http(WIDGETS)[0] == 200, "the widgets resource to be served", timeout=20, every=0.05
    )


def test_discovery_documents(server: Server) -> None:
    """/version, /api, /api/v1 (short names, status and scale subresources), /apis, and a CRD's
    group appearing in /apis and /apis/<group>/<version> once it is established."""
    http = server.http
    assert http("/version")[2]["major"] == "1"
    assert http("/api")[2]["versions"] == ["v1"]
    core = {r["name"]: r for r in http("/api/v1")[2]["resources"]}
    assert core["namespaces"]["shortNames"] == ["ns"] and not core["namespaces"]["namespaced"]
    assert core["pods"]["categories"] == ["all"]
    apps = {r["name"]: r for r in http("/apis/apps/v1")[2]["resources"]}
    assert (
        apps["deployments/scale"]["kind"] == "Scale" and apps["deployments/scale"]["group"] == "autoscaling"
    )
    assert apps["deployments/status"]["verbs"] == ["get", "patch", "update"]
    groups = [g["name"] for g in http("/apis")[2]["groups"]]
    assert GROUP not in groups and "apps" in groups
    assert http(f"/apis/{GROUP}/v1")[0] == 404
    _install_crd(server)
    eventually(
        lambda: GROUP in [g["name"] for g in http("/apis")[2]["groups"]],
        "the group in /apis",
        timeout=20,
        every=0.05,
    )
    served = http(f"/apis/{GROUP}/v1")[2]["resources"]
    assert served[0]["shortNames"] == ["wd"] and served[1]["name"] == "widgets/status"


def test_errors_are_status_objects(server: Server) -> None:
    """Failures answer a v1 Status (status Failure, reason, code, details; an empty group is left
    out), e.g. 404 NotFound; an unknown API group is a 404 too."""
    status, headers, body = server.http(CMS + "/missing")
    assert status == 404 and headers["Content-Type"].startswith("application/json")
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "missing" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "missing", "kind": "configmaps"},
    }
    assert server.http("/apis/nope.example.com/v1/things")[0] == 404


def test_unreadable_bodies_answer_415(server: Server) -> None:
    """A body in a media type the server cannot read is 415 UnsupportedMediaType listing those it
    accepts (never a 400 about JSON); a protobuf body that is not protobuf is a 400 BadRequest; YAML
    bodies are read; strategic merge on custom resources is 415."""
    http = server.http
    status, _, body = http(CMS, "POST", raw=b"name: x", content_type="text/plain")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"
    assert body["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml, application/vnd.kubernetes.protobuf"
    )
    status, _, body = http(
        CMS, "POST", raw=b"\x00\x01garbage", content_type="application/vnd.kubernetes.protobuf"
    )
    assert status == 400 and body["reason"] == "BadRequest", body
    assert body["message"].startswith(
        "the object provided is unrecognized (must be of type ConfigMap): provided data does not appear "
        "to be a protobuf message, expected prefix [107 56 115 0]"
    )
    status, _, body = http(CMS, "POST", raw=b"metadata: {name: from-yaml}\n", content_type="application/yaml")
    assert status == 201 and body["metadata"]["name"] == "from-yaml"
    status, _, body = http(
        CMS + "/from-yaml?fieldManager=test",
        "PATCH",
        raw=b"{apiVersion: v1, kind: ConfigMap, metadata: {name: from-yaml}, data: {a: b}}",
        content_type="application/apply-patch+yaml",
    )
    if server.emulator:  # known gap (sandbox/apiserver/README.md): no server-side apply, and it says so
        assert status == 415 and "server-side apply" in body["message"]
    else:
        assert status == 200 and body["data"] == {"a": "b"}
    _install_crd(server)
    http(WIDGETS, "POST", widget("w"))
    status, _, body = http(
        WIDGETS + "/w",
        "PATCH",
        {"spec": {"size": 2}},
        content_type="application/strategic-merge-patch+json",
    )
    assert status == 415 and body["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


def test_table_with_printer_columns_and_objects(server: Server) -> None:
    """`Accept: ...;as=Table;g=meta.k8s.io;v=v1` answers a Table: CRD printer columns (NAME first),
    rows with cells, and objects as PartialObjectMetadata or full objects (includeObject=Object)."""
    http = server.http
    _install_crd(server)
    http(WIDGETS, "POST", widget("w"))
    http(
        WIDGETS + "/w/status",
        "PATCH",
        {"status": {"phase": "Succeeded", "weight": 100}},
        content_type="application/merge-patch+json",
    )
    _, _, table = http(WIDGETS, accept=TABLE)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Weight", "Age"]
    assert table["rows"][0]["cells"][:3] == ["w", "Succeeded", 100]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    _, _, full = http(WIDGETS + "?includeObject=Object", accept=TABLE)
    assert full["rows"][0]["object"]["spec"]["size"] == 3
    _, _, plain = http(WIDGETS)
    assert plain["kind"] == "WidgetList"


def test_watch_framing_and_initial_events(server: Server) -> None:
    """Watch streams are JSON lines of {type, object}; a watch from no resourceVersion starts with the
    current objects as ADDED, and with allowWatchBookmarks (or sendInitialEvents=true) ends them with a
    BOOKMARK annotated `k8s.io/initial-events-end`; any later BOOKMARK (the real server may send one
    just before the timeout) carries only a resourceVersion; timeoutSeconds ends the stream."""
    server.http(CMS, "POST", {"metadata": {"name": "a"}})
    for query in (
        "?watch=1&allowWatchBookmarks=true&timeoutSeconds=1",  # sendInitialEvents defaults to true
        "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan"
        "&timeoutSeconds=1",
    ):
        events = server.watch_lines(CMS + query)
        names = [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]
        assert "a" in names, events  # the real server's namespace also has kube-root-ca.crt
        initial = len(names)
        assert [e["type"] for e in events[: initial + 1]] == ["ADDED"] * initial + ["BOOKMARK"], events
        assert all(set(e["object"]["metadata"]) == {"resourceVersion"} for e in events[initial + 1 :]), events
        assert {e["type"] for e in events[initial + 1 :]} <= {"BOOKMARK"}, events
        mark = events[initial]["object"]
        assert mark["kind"] == "ConfigMap" and mark["apiVersion"] == "v1"
        assert mark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert int(mark["metadata"]["resourceVersion"]) >= int(
            events[0]["object"]["metadata"]["resourceVersion"]
        )
    listed = server.http(CMS)[2]["metadata"]["resourceVersion"]
    server.http(CMS, "POST", {"metadata": {"name": "b"}})
    later = server.watch_lines(CMS + f"?watch=1&resourceVersion={listed}&timeoutSeconds=1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in later] == [("ADDED", "b")]


@emulator_only("the bookmark interval is an emulator switch; kube-apiserver sends them about once a minute")
def test_watch_bookmarks_carry_only_a_resource_version(server: Server, apiserver: RunningApiServer) -> None:
    """allowWatchBookmarks brings periodic BOOKMARKs whose object carries only a resourceVersion."""
    apiserver.set_bookmark_interval(0.2)
    listed = server.http(CMS)[2]["metadata"]["resourceVersion"]
    events = server.watch_lines(
        CMS + f"?watch=1&resourceVersion={listed}&allowWatchBookmarks=true&timeoutSeconds=1"
    )
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert set(events[0]["object"]["metadata"]) == {"resourceVersion"}


@emulator_only(
    "the retained watch history is an emulator switch (set_history_limit); the real server's "
    "watch cache keeps its own window and etcd compacts every 5 minutes"
)
def test_watch_of_expired_version_is_410(server: Server, apiserver: RunningApiServer) -> None:
    """A watch from a resourceVersion older than the retained history gets one ERROR event whose
    object is a Status with code 410, reason Expired."""
    start = server.http(CMS)[2]["metadata"]["resourceVersion"]
    apiserver.set_history_limit(3)
    for i in range(6):
        server.http(CMS, "POST", {"metadata": {"name": f"c{i}"}})
    events = server.watch_lines(CMS + f"?watch=1&resourceVersion={start}&timeoutSeconds=1")
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    recent = apiserver.resource_version - 1
    fresh = server.watch_lines(CMS + f"?watch=1&resourceVersion={recent}&timeoutSeconds=1")
    assert [e["type"] for e in fresh] == ["ADDED"]


def test_admission_rules(server: Server) -> None:
    """Terminating namespaces refuse new content (403); custom objects need a resourceVersion on
    PUT (422); fieldValidation=Strict refuses unknown fields (400); JSON patch move/copy work;
    deletecollection honours label selectors."""
    http = server.http
    busy = server.new_namespace("busy")
    http("/api/v1/namespaces", "POST", {"metadata": {"name": busy}})
    held = f"/api/v1/namespaces/{busy}/configmaps"
    http(held, "POST", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    http(f"/api/v1/namespaces/{busy}", "DELETE")
    status, _, body = http(held, "POST", {"metadata": {"name": "new"}})
    assert status == 403 and "being terminated" in body["message"]
    assert http(f"/api/v1/namespaces/{busy}")[2]["status"]["phase"] == "Terminating"
    http(
        held + "/held",
        "PATCH",
        {"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )

    _install_crd(server)
    _, _, made = http(WIDGETS, "POST", widget("w"))
    del made["metadata"]["resourceVersion"]
    status, _, body = http(WIDGETS + "/w", "PUT", made)
    assert status == 422 and body["details"]["causes"][0]["field"] == "metadata.resourceVersion"
    status, _, body = http(WIDGETS + "?fieldValidation=Strict", "POST", widget("x", extra=1))
    assert status == 400 and 'unknown field "spec.extra"' in body["message"]
    status, _, pruned = http(WIDGETS, "POST", widget("y", extra=1))
    assert status == 201 and "extra" not in pruned["spec"]

    http(CMS, "POST", {"metadata": {"name": "p", "labels": {"a": "1"}}, "data": {"x": "1"}})
    status, _, moved = http(
        CMS + "/p",
        "PATCH",
        [
            {"op": "copy", "from": "/data/x", "path": "/data/y"},
            {"op": "move", "from": "/data/x", "path": "/data/z"},
        ],
        content_type="application/json-patch+json",
    )
    assert status == 200 and moved["data"] == {"y": "1", "z": "1"}
    http(CMS, "POST", {"metadata": {"name": "q", "labels": {"a": "2"}}})
    status, _, gone = http(CMS + "?labelSelector=a%3D1", "DELETE")
    assert status == 200 and [i["metadata"]["name"] for i in gone["items"]] == ["p"]
    names = [i["metadata"]["name"] for i in http(CMS)[2]["items"]]
    assert "q" in names and "p" not in names


def test_endpoint_addresses(server: Server) -> None:
    """Endpoints (core/v1) and EndpointSlices (discovery.k8s.io/v1) take pod addresses; the real server
    refuses loopback addresses (ValidateEndpointIP), which the emulator takes: a known gap, as its
    sandbox runs every pod on 127.0.0.1 (sandbox/apiserver/README.md)."""
    for ip in ("198.18.0.1", "127.0.0.1"):
        name = "ep-" + ip.replace(".", "-")
        endpoints = {
            "metadata": {"name": name},
            "subsets": [{"addresses": [{"ip": ip}], "ports": [{"port": 80}]}],
        }
        slice_ = {
            "metadata": {"name": name},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip]}],
            "ports": [{"port": 80}],
        }
        made = server.http("/api/v1/namespaces/NS/endpoints", "POST", endpoints)
        made_slice = server.http("/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices", "POST", slice_)
        if ip != "127.0.0.1" or server.emulator:
            assert made[0] == 201 and made[2]["subsets"][0]["addresses"] == [{"ip": ip}], made[2]
            assert made_slice[0] == 201 and made_slice[2]["endpoints"][0]["addresses"] == [ip], made_slice[2]
            continue
        loopback = "may not be in the loopback range (127.0.0.0/8, ::1/128)"
        assert made[0] == 422 and made[2]["message"] == (
            f'Endpoints "{name}" is invalid: subsets[0].addresses[0].ip: Invalid value: "{ip}": {loopback}'
        )
        assert made_slice[0] == 422 and made_slice[2]["message"] == (
            f'EndpointSlice.discovery.k8s.io "{name}" is invalid: endpoints[0].addresses[0]: Invalid value: '
            f'"{ip}": {loopback}'
        )


def _requests_total(server: Server) -> dict[tuple[str, str, str, str], float]:
    status, headers, text = server.http("/metrics", accept="text/plain")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    samples: dict[tuple[str, str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "apiserver_request_total" and s.labels["resource"] in ("configmaps", "namespaces"):
                key = (s.labels["verb"], s.labels["resource"], s.labels["scope"], s.labels["code"])
                samples[key] = samples.get(key, 0) + s.value
    return samples


def test_metrics_count_requests_as_kube_apiserver_does(server: Server) -> None:
    """kube-apiserver's `/metrics` counts every request in `apiserver_request_total` by verb (GET for
    a named read, LIST for a collection, POST/PUT/PATCH/DELETE for writes), resource, subresource,
    scope (`resource` for a named request and for a create) and response code; a 404 is counted with
    its code. (The counts are compared before and
    after: the real server also counts its controllers' requests, so the namespaces of earlier tests
    are let go first.)"""
    http = server.http
    server.wait_quiet()
    before = _requests_total(server)
    http(CMS, "POST", {"metadata": {"name": "a"}, "data": {}})
    http(CMS + "/a")
    http(CMS + "/a")
    http(CMS + "/missing")
    http(CMS)
    http("/api/v1/namespaces")
    http(CMS + "/a", "PATCH", {"data": {"k": "v"}}, content_type="application/merge-patch+json")
    after = _requests_total(server)
    counted = {key: n - before.get(key, 0) for key, n in after.items() if n != before.get(key, 0)}
    assert counted == {
        ("POST", "configmaps", "resource", "201"): 1,
        ("GET", "configmaps", "resource", "200"): 2,
        ("GET", "configmaps", "resource", "404"): 1,
        ("LIST", "configmaps", "namespace", "200"): 1,
        ("LIST", "namespaces", "cluster", "200"): 1,
        ("PATCH", "configmaps", "resource", "200"): 1,
    }
