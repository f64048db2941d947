"""Build the `kubernetes` ApiClient once: in-cluster credentials, else KUBECONFIG.

Per-call timeouts live in `controller.kube.objects.KubeObjects` (the client has no global one and
waits forever by default).
"""

from __future__ import annotations

import os

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from controller.kube.objects import DEFAULT_TIMEOUT, KubeObjects


class NoCredentials(RuntimeError):
    """Neither in-cluster credentials nor a kubeconfig could be loaded."""


def build_api_client(kubeconfig: str | None = None, context: str | None = None) -> k8s.ApiClient:
    """An ApiClient from `kubeconfig` if given, else in-cluster, else `$KUBECONFIG` or `~/.kube/config`."""
    configuration = k8s.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return k8s.ApiClient(configuration)
        except k8s_config.ConfigException:
            pass  # not really in a pod (the variable leaks into some shells): try a kubeconfig
    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context, client_configuration=configuration)
    except (k8s_config.ConfigException, OSError) as exc:
        raise NoCredentials(f"no Kubernetes credentials: not in a cluster, and kubeconfig {path} "
                            f"could not be loaded ({exc})") from exc
    return k8s.ApiClient(configuration)


def build_objects(kubeconfig: str | None = None,
                  timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> KubeObjects:
    """The `Objects` port over a freshly built ApiClient."""
    return KubeObjects(build_api_client(kubeconfig), timeout)
