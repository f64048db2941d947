"""The real Kubernetes control plane for the sandbox and the tests, built from its Go modules.

- ``go.mod``/``go.sum``: a small Go module that requires ``k8s.io/kubernetes`` and maps every staging
  module (pinned at v0.0.0 upstream) to the same release with ``replace`` lines;
- :mod:`sandbox.kubernetes.build`: builds etcd, kube-apiserver, kube-controller-manager and
  kube-scheduler into ``.tools/kubernetes-<version>/bin`` (``./dev setup`` runs it);
- :mod:`sandbox.kubernetes.pki`: the CA, serving certificate and service-account keys;
- :class:`ControlPlane`: runs the four as child processes with ``--authorization-mode=Node,RBAC``.
"""

from sandbox.kubernetes.build import KUBERNETES_VERSION
from sandbox.kubernetes.controlplane import (
    TOKENS,
    ControlPlane,
    ControlPlaneError,
    NotBuilt,
    binaries_dir,
    check_built,
    stop_recorded,
)

__all__ = [
    "KUBERNETES_VERSION",
    "TOKENS",
    "ControlPlane",
    "ControlPlaneError",
    "NotBuilt",
    "binaries_dir",
    "check_built",
    "stop_recorded",
]
