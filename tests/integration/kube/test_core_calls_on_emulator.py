"""The core-group calls (Services, Events, Secrets) made without ``CoreV1Api``, through the client's
generic request path: create, read, replace and merge-patch a Service round-trip every field; a
missing object reads as None; an existing name is ``AlreadyExists``; a stale replace is ``Conflict``;
``KubeSecrets`` decodes a Secret's data and answers None for a missing one."""

from __future__ import annotations

import base64

import kubernetes
import pytest

from controller.kube.objects import SERVICE, AlreadyExists, Conflict, KubeObjects
from controller.operator.lookups import SECRET, KubeSecrets
from tests.integration.routers.cluster import NS

pytestmark = pytest.mark.integration


def test_service_round_trip_and_errors(objects: KubeObjects) -> None:
    body = {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": NS, "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    made = objects.create(SERVICE, NS, body)
    assert made["metadata"]["labels"] == {"app": "web"} and made["spec"]["ports"][0]["targetPort"] == 8080
    with pytest.raises(AlreadyExists):
        objects.create(SERVICE, NS, body)
    read = objects.get(SERVICE, NS, "web")
    assert read is not None and read["metadata"]["uid"] == made["metadata"]["uid"]
    assert objects.get(SERVICE, NS, "absent") is None
    read["spec"]["selector"] = {"app": "web-primary"}
    replaced = objects.replace(SERVICE, NS, "web", read)
    assert replaced["spec"]["selector"] == {"app": "web-primary"}
    with pytest.raises(Conflict):
        objects.replace(SERVICE, NS, "web", read)  # the resourceVersion read is stale now
    patched = objects.merge_patch(SERVICE, NS, "web", {"metadata": {"annotations": {"a": "b"}}})
    assert patched["metadata"]["annotations"] == {"a": "b"}
    assert patched["spec"]["selector"] == {"app": "web-primary"}


def test_secrets_are_read_by_name_and_decoded(objects: KubeObjects, api: kubernetes.client.ApiClient) -> None:
    raw = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git", "namespace": NS},
           "data": {"username": base64.b64encode(b"bot").decode(),
                    "password": base64.b64encode(b"s3cret").decode()}}
    # Serinus never writes Secrets; the test creates one through the same generic request path.
    request = api.param_serialize(method="POST", resource_path="/api/v1/namespaces/{namespace}/secrets",
                                  path_params={"namespace": NS}, body=raw,
                                  header_params={"Content-Type": "application/json",
                                                 "Accept": "application/json"},
                                  auth_settings=["BearerToken"])  # the real server refuses anonymous
    assert api.call_api(*request).status == 201
    secrets = KubeSecrets(api)
    assert secrets.read(NS, "git") == {"username": "bot", "password": "s3cret"}
    assert secrets.read(NS, "absent") is None
    assert objects.get(SECRET, NS, "git") is not None
