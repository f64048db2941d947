"""Endpoints read from EndpointSlices (the real control plane's EndpointSlice controller writes them)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.cluster.pods import owning_deployment, scrape_port
from sandbox.mesh import MeshConfigError, ServicePort
from sandbox.mesh.slices import slice_endpoints


def service(name: str, ports: list[dict[str, Any]], namespace: str = "shop") -> dict[str, Any]:
    return {"kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": {"ports": ports}}


def piece(service_name: str, ports: list[dict[str, Any]], endpoints: list[dict[str, Any]],
          namespace: str = "shop", address_type: str = "IPv4") -> dict[str, Any]:  # fmt: skip
    return {
        "metadata": {"namespace": namespace, "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": address_type,
        "ports": ports,
        "endpoints": endpoints,
    }


def ep(ip: str, **conditions: bool) -> dict[str, Any]:
    return {"addresses": [ip], "conditions": conditions}


def test_ready_endpoints_of_the_services_own_slices_by_port_name() -> None:
    svc = service(
        "podinfo", [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "grpc", "port": 9999}]
    )
    slices = [
        piece("podinfo", [{"name": "http", "port": 9898}, {"name": "grpc", "port": 9999}],
              [ep("198.18.0.3", ready=True), ep("198.18.0.2", ready=True), ep("198.18.0.4", ready=False)]),
        piece("podinfo", [{"name": "http", "port": 9898}], [ep("198.18.0.5")]),  # ready unknown: counts
        piece("podinfo", [{"name": "http", "port": 9898}], [ep("198.18.0.6", ready=True)], namespace="other"),
        piece("podinfo-canary", [{"name": "http", "port": 9898}], [ep("198.18.0.7", ready=True)]),
        piece("podinfo", [{"name": "http", "port": 9898}], [ep("198.18.0.8", ready=True, terminating=True)]),
    ]  # fmt: skip
    assert slice_endpoints(svc, slices) == {
        ServicePort("shop", "podinfo", 80): [
            ("198.18.0.2", 9898),
            ("198.18.0.3", 9898),
            ("198.18.0.5", 9898),
        ],
        ServicePort("shop", "podinfo", 9999): [("198.18.0.2", 9999), ("198.18.0.3", 9999)],
    }


def test_an_unnamed_port_matches_the_slices_unnamed_port_and_ipv6_slices_are_left_out() -> None:
    svc = service("podinfo", [{"port": 9898}])
    slices = [
        piece("podinfo", [{"name": "", "port": 9898}], [ep("198.18.0.2", ready=True)]),
        piece("podinfo", [{"port": 9898}], [ep("fd00::2", ready=True)], address_type="IPv6"),
    ]
    assert slice_endpoints(svc, slices) == {ServicePort("shop", "podinfo", 9898): [("198.18.0.2", 9898)]}


def test_a_service_without_slices_has_no_endpoints_and_a_bad_port_is_an_error() -> None:
    assert slice_endpoints(service("podinfo", [{"port": 80}]), []) == {ServicePort("shop", "podinfo", 80): []}
    with pytest.raises(MeshConfigError, match=r"spec.ports\[0\].port"):
        slice_endpoints(service("podinfo", [{"port": "80"}]), [])


def test_scrape_port_and_deployment_of_a_pod_made_by_the_real_controllers() -> None:
    pod = {
        "metadata": {
            "labels": {"app": "podinfo", "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": "podinfo-primary-7d9f8c6b5", "controller": True}
            ],
        },
        "spec": {
            "containers": [{"name": "app", "ports": [{"containerPort": 9898}, {"containerPort": 9797}]}]
        },
    }
    assert scrape_port(pod) == 9898
    assert owning_deployment(pod) == "podinfo-primary"
    assert scrape_port({"spec": {"containers": [{"name": "app"}]}}) is None
    assert (
        owning_deployment(
            {"metadata": {"ownerReferences": [{"kind": "Job", "name": "x", "controller": True}]}}
        )
        == ""
    )
