"""``servers``: the session's real control plane and an API emulator of the module's own, both with
Serinus' CRDs installed (once per module; on the shared real server only when absent)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.apiserver.testing import running_apiserver
from sandbox.kubernetes.controlplane import ControlPlane
from tests.integration.kubernetes.cluster import Servers, ensure_crds, kubectl_for, serinus_crds


@pytest.fixture(scope="module")
def servers(kube_control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Both API servers with Serinus' CRDs Established; the module's namespaces are deleted after it."""
    tmp = tmp_path_factory.mktemp("servers")
    (tmp / "emulator").mkdir()
    with running_apiserver(tmp / "emulator") as emulator:
        kube = kubectl_for(kube_control_plane.kubeconfig, tmp / "kube-cache")
        emu = kubectl_for(emulator.kubeconfig, tmp / "emulator-cache")
        for kubectl in (kube, emu):
            ensure_crds(kubectl, serinus_crds())
        both = Servers(kube_control_plane, kube, emulator, emu)
        try:
            yield both
        finally:
            both.cleanup()
