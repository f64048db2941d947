"""Pure: the Node object and the node Lease, as a kubelet registers and renews them.

:func:`node_manifest` is the Node the node creates for itself (labels a kubelet may set on itself
under NodeRestriction, no taints, no ``podCIDR``); :func:`node_status` is its ``status``: capacity and
allocatable (cpu, memory, pods, ephemeral-storage), the kubelet's conditions (``Ready`` True; memory,
disk and PID pressure False) with ``lastHeartbeatTime`` set to now on every refresh and
``lastTransitionTime`` kept while a condition holds, ``InternalIP`` and ``Hostname`` addresses and
``nodeInfo`` with ``kubeletVersion``. :func:`lease_manifest` is ``kube-node-lease/<node>``, owned by
the Node so it goes with it; the node renews ``spec.renewTime`` (:func:`micro_time`) every 10 s,
which is what keeps kube-controller-manager's node lifecycle controller from marking the node
unreachable (it allows 50 s without a renewal by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

KUBELET_VERSION = "v1.37.2"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
_ARCHITECTURES = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}


def micro_time(timestamp: float) -> str:
    """A ``MicroTime`` (RFC 3339 with microseconds), the format of a Lease's ``renewTime``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def architecture(machine: str) -> str:
    """The Go name of ``platform.machine()`` (``x86_64`` -> ``amd64``), as ``nodeInfo`` spells it."""
    return _ARCHITECTURES.get(machine, machine)


@dataclass(frozen=True)
class NodeInfo:
    """The host facts a kubelet reports in ``status.nodeInfo``."""

    machine_id: str
    boot_id: str
    kernel_version: str
    os_image: str
    architecture: str
    operating_system: str = "linux"
    container_runtime_version: str = "sandbox://local-processes"

    def to_json(self) -> dict[str, str]:
        """The ``nodeInfo`` object."""
        return {
            "machineID": self.machine_id,
            "systemUUID": self.machine_id,
            "bootID": self.boot_id,
            "kernelVersion": self.kernel_version,
            "osImage": self.os_image,
            "containerRuntimeVersion": self.container_runtime_version,
            "kubeletVersion": KUBELET_VERSION,
            "operatingSystem": self.operating_system,
            "architecture": self.architecture,
        }


@dataclass(frozen=True)
class Capacity:
    """What the node offers the scheduler (it never enforces it: processes are not limited)."""

    cpu: str = "8"
    memory: str = "16Gi"
    pods: str = "110"
    ephemeral_storage: str = "100Gi"

    def to_json(self) -> dict[str, str]:
        """The ``capacity`` (and ``allocatable``) object."""
        return {
            "cpu": self.cpu,
            "memory": self.memory,
            "pods": self.pods,
            "ephemeral-storage": self.ephemeral_storage,
        }


_CONDITIONS: tuple[tuple[str, str, str, str], ...] = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def node_status(
    name: str,
    address: str,
    info: NodeInfo,
    capacity: Capacity,
    *,
    now_iso: str,
    previous: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The Node's ``status``: every heartbeat is now; a transition time is kept while a condition holds."""
    before = {str(c.get("type")): c for c in previous}
    conditions = []
    for kind, status, reason, message in _CONDITIONS:
        old = before.get(kind)
        kept = old is not None and old.get("status") == status
        conditions.append({
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now_iso,
            "lastTransitionTime": old.get("lastTransitionTime", now_iso) if kept and old else now_iso,
        })  # fmt: skip
    return {
        "capacity": capacity.to_json(),
        "allocatable": capacity.to_json(),
        "conditions": conditions,
        "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": info.to_json(),
    }


def node_manifest(
    name: str, address: str, info: NodeInfo, capacity: Capacity, *, now_iso: str
) -> dict[str, Any]:
    """The Node object the node registers, status included (a Node may be created with its status)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": info.operating_system,
                "kubernetes.io/arch": info.architecture,
                "beta.kubernetes.io/os": info.operating_system,
                "beta.kubernetes.io/arch": info.architecture,
            },
        },
        "spec": {},
        "status": node_status(name, address, info, capacity, now_iso=now_iso),
    }


def lease_manifest(name: str, node_uid: str | None, now: float) -> dict[str, Any]:
    """The node's Lease in ``kube-node-lease``, held by the node and owned by its Node."""
    meta: dict[str, Any] = {"name": name, "namespace": LEASE_NAMESPACE}
    if node_uid:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": micro_time(now),
        },
    }


def lease_renewal(name: str, now: float) -> dict[str, Any]:
    """The merge patch that renews the Lease (and takes it back should someone else hold it)."""
    return {
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": micro_time(now),
        }
    }
