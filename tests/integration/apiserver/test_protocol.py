"""Wire-level conformance of the API emulator over raw HTTP: discovery documents, Status errors,
content types (415 for bodies it cannot read), Tables, watch framing (BOOKMARK, initial-events
end, ERROR 410) and admission rules. Each test names the Kubernetes behaviour it pins."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sandbox.apiserver.testing import RunningApiServer, running_apiserver
from tests.integration.apiserver.clients import GROUP, WIDGET_CRD, http, widget

CMS = "/api/v1/namespaces/default/configmaps"
WIDGETS = f"/apis/{GROUP}/v1/namespaces/default/widgets"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def _watch_lines(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        return [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]


def test_discovery_documents(apiserver: RunningApiServer) -> None:
    """/version, /api, /api/v1 (short names, status and scale subresources), /apis, and a CRD's
    group appearing in /apis and /apis/<group>/<version> once it is created."""
    url = apiserver.url
    assert http(url + "/version")[2]["major"] == "1"
    assert http(url + "/api")[2]["versions"] == ["v1"]
    core = {r["name"]: r for r in http(url + "/api/v1")[2]["resources"]}
    assert core["namespaces"]["shortNames"] == ["ns"] and not core["namespaces"]["namespaced"]
    assert core["pods"]["categories"] == ["all"]
    apps = {r["name"]: r for r in http(url + "/apis/apps/v1")[2]["resources"]}
    assert (
        apps["deployments/scale"]["kind"] == "Scale" and apps["deployments/scale"]["group"] == "autoscaling"
    )
    assert apps["deployments/status"]["verbs"] == ["get", "patch", "update"]
    groups = [g["name"] for g in http(url + "/apis")[2]["groups"]]
    assert GROUP not in groups and "apps" in groups
    assert http(url + f"/apis/{GROUP}/v1")[0] == 404
    crds = url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    assert http(crds, "POST", WIDGET_CRD)[0] == 201
    assert GROUP in [g["name"] for g in http(url + "/apis")[2]["groups"]]
    served = http(url + f"/apis/{GROUP}/v1")[2]["resources"]
    assert served[0]["shortNames"] == ["wd"] and served[1]["name"] == "widgets/status"


def test_errors_are_status_objects(apiserver: RunningApiServer) -> None:
    """Failures answer a v1 Status (status Failure, reason, code, details), e.g. 404 NotFound."""
    status, headers, body = http(apiserver.url + CMS + "/missing")
    assert status == 404 and headers["Content-Type"].startswith("application/json")
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "missing" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "missing", "group": "", "kind": "configmaps"},
    }
    assert http(apiserver.url + "/apis/nope.example.com/v1/things")[0] == 404


def test_unreadable_bodies_answer_415(apiserver: RunningApiServer) -> None:
    """A body in a type the server cannot read is 415 UnsupportedMediaType saying so (never a 400
    about JSON); server-side apply and strategic merge on custom resources are 415 too; YAML bodies
    are read."""
    url = apiserver.url
    status, _, body = http(url + CMS, "POST", raw=b"name: x", content_type="text/plain")
    assert status == 415 and body["reason"] == "UnsupportedMediaType" and "text/plain" in body["message"]
    status, _, body = http(
        url + CMS, "POST", raw=b"\x00\x01garbage", content_type="application/vnd.kubernetes.protobuf"
    )
    assert status == 415, body
    status, _, body = http(
        url + CMS, "POST", raw=b"metadata: {name: from-yaml}\n", content_type="application/yaml"
    )
    assert status == 201 and body["metadata"]["name"] == "from-yaml"
    status, _, body = http(
        url + CMS + "/from-yaml", "PATCH", raw=b"data: {a: b}", content_type="application/apply-patch+yaml"
    )
    assert status == 415 and "server-side apply" in body["message"]
    http(url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "POST", WIDGET_CRD)
    http(url + WIDGETS, "POST", widget("w"))
    status, _, body = http(
        url + WIDGETS + "/w",
        "PATCH",
        {"spec": {"size": 2}},
        content_type="application/strategic-merge-patch+json",
    )
    assert status == 415 and "application/merge-patch+json" in body["message"]


def test_table_with_printer_columns_and_objects(apiserver: RunningApiServer) -> None:
    """`Accept: ...;as=Table;g=meta.k8s.io;v=v1` answers a Table: CRD printer columns (NAME first),
    rows with cells, and objects as PartialObjectMetadata or full objects (includeObject=Object)."""
    url = apiserver.url
    http(url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "POST", WIDGET_CRD)
    http(url + WIDGETS, "POST", widget("w"))
    http(
        url + WIDGETS + "/w/status",
        "PATCH",
        {"status": {"phase": "Succeeded", "weight": 100}},
        content_type="application/merge-patch+json",
    )
    _, _, table = http(url + WIDGETS, accept=TABLE)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Weight", "Age"]
    assert table["rows"][0]["cells"][:3] == ["w", "Succeeded", 100]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    _, _, full = http(url + WIDGETS + "?includeObject=Object", accept=TABLE)
    assert full["rows"][0]["object"]["spec"]["size"] == 3
    _, _, plain = http(url + WIDGETS)
    assert plain["kind"] == "WidgetList"


def test_watch_framing_bookmarks_and_initial_events(tmp_path: Path) -> None:
    """Watch streams are JSON lines of {type, object}; allowWatchBookmarks brings BOOKMARKs carrying
    only a resourceVersion; sendInitialEvents ends the initial ADDEDs with a bookmark annotated
    `k8s.io/initial-events-end`; timeoutSeconds ends the stream."""
    with running_apiserver(tmp_path, bookmark_interval=0.2) as server:
        http(server.url + CMS, "POST", {"metadata": {"name": "a"}})
        events = _watch_lines(server.url + CMS + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=1")
        assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "a"
        marks = [e for e in events if e["type"] == "BOOKMARK"]
        assert marks and set(marks[0]["object"]["metadata"]) == {"resourceVersion"}
        listed = _watch_lines(
            server.url + CMS + "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
            "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1"
        )
        assert [e["type"] for e in listed[:2]] == ["ADDED", "BOOKMARK"]
        assert listed[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_of_expired_version_is_410(tmp_path: Path) -> None:
    """A watch from a resourceVersion older than the retained history gets one ERROR event whose
    object is a Status with code 410, reason Expired."""
    with running_apiserver(tmp_path, history=3) as server:
        for i in range(6):
            http(server.url + CMS, "POST", {"metadata": {"name": f"c{i}"}})
        events = _watch_lines(server.url + CMS + "?watch=1&resourceVersion=2&timeoutSeconds=1")
        assert len(events) == 1 and events[0]["type"] == "ERROR"
        assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
        recent = server.resource_version - 1
        fresh = _watch_lines(server.url + CMS + f"?watch=1&resourceVersion={recent}&timeoutSeconds=1")
        assert [e["type"] for e in fresh] == ["ADDED"]


def test_admission_rules(apiserver: RunningApiServer) -> None:
    """Terminating namespaces refuse new content (403); custom objects need a resourceVersion on
    PUT (422); fieldValidation=Strict refuses unknown fields (400); JSON patch move/copy work;
    deletecollection honours label selectors."""
    url = apiserver.url
    http(url + "/api/v1/namespaces", "POST", {"metadata": {"name": "busy"}})
    http(
        url + "/api/v1/namespaces/busy/configmaps",
        "POST",
        {"metadata": {"name": "held", "finalizers": ["example.com/x"]}},
    )
    http(url + "/api/v1/namespaces/busy", "DELETE")
    status, _, body = http(url + "/api/v1/namespaces/busy/configmaps", "POST", {"metadata": {"name": "new"}})
    assert status == 403 and "being terminated" in body["message"]
    assert http(url + "/api/v1/namespaces/busy")[2]["status"]["phase"] == "Terminating"

    http(url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "POST", WIDGET_CRD)
    _, _, made = http(url + WIDGETS, "POST", widget("w"))
    del made["metadata"]["resourceVersion"]
    status, _, body = http(url + WIDGETS + "/w", "PUT", made)
    assert status == 422 and body["details"]["causes"][0]["field"] == "metadata.resourceVersion"
    status, _, body = http(url + WIDGETS + "?fieldValidation=Strict", "POST", widget("x", extra=1))
    assert status == 400 and 'unknown field "spec.extra"' in body["message"]
    status, _, pruned = http(url + WIDGETS, "POST", widget("y", extra=1))
    assert status == 201 and "extra" not in pruned["spec"]

    http(url + CMS, "POST", {"metadata": {"name": "p", "labels": {"a": "1"}}, "data": {"x": "1"}})
    status, _, moved = http(
        url + CMS + "/p",
        "PATCH",
        [
            {"op": "copy", "from": "/data/x", "path": "/data/y"},
            {"op": "move", "from": "/data/x", "path": "/data/z"},
        ],
        content_type="application/json-patch+json",
    )
    assert status == 200 and moved["data"] == {"y": "1", "z": "1"}
    http(url + CMS, "POST", {"metadata": {"name": "q", "labels": {"a": "2"}}})
    status, _, gone = http(url + CMS + "?labelSelector=a%3D1", "DELETE")
    assert status == 200 and [i["metadata"]["name"] for i in gone["items"]] == ["p"]
    names = [i["metadata"]["name"] for i in http(url + CMS)[2]["items"]]
    assert "q" in names and "p" not in names


def test_metrics_count_requests_as_kube_apiserver_does(apiserver: RunningApiServer) -> None:
    """kube-apiserver's `/metrics` counts every request in `apiserver_request_total` by verb (GET for
    a named read, LIST for a collection, POST/PUT/PATCH/DELETE for writes), resource, subresource,
    scope and response code; a 404 is counted with its code."""
    url = apiserver.url
    http(url + CMS, "POST", {"metadata": {"name": "a"}, "data": {}})
    http(url + CMS + "/a")
    http(url + CMS + "/a")
    http(url + CMS + "/missing")
    http(url + CMS)
    http(url + "/api/v1/namespaces")
    http(url + CMS + "/a", "PATCH", {"data": {"k": "v"}}, content_type="application/merge-patch+json")
    status, headers, text = http(url + "/metrics", accept="text/plain")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.labels["verb"], s.labels["resource"], s.labels["scope"], s.labels["code"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "apiserver_request_total"
    }
    assert samples == {
        ("POST", "configmaps", "namespace", "201"): 1,
        ("GET", "configmaps", "resource", "200"): 2,
        ("GET", "configmaps", "resource", "404"): 1,
        ("LIST", "configmaps", "namespace", "200"): 1,
        ("LIST", "namespaces", "cluster", "200"): 1,
        ("PATCH", "configmaps", "resource", "200"): 1,
    }
