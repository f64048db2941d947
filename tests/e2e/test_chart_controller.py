"""The Helm chart's controller, as the chart starts it, runs a canary to promotion in the sandbox.

The chart is rendered with the real ``helm template`` for this sandbox (the watched namespace, the
sandbox's Prometheus, leader election with its Lease in the release namespace, a short tick, a
writable Git cache, a free metrics port, the push webhook's secret from a Secret). The rendered
Deployment's container ``command`` + ``args`` are run exactly, with only ``serinus`` resolved to the
virtualenv's entry point, and with the container's ``env`` resolved as the kubelet would: the
downward-API fields by hand (``POD_NAMESPACE`` = the release namespace) and the ``secretKeyRef`` from
the Secret created in the API emulator.

Pinned: that process becomes ready on the chart's readiness path and port, takes the chart's Lease,
accepts a push webhook signed with the Secret's value (and refuses a wrong signature), and carries
``demo/podinfo:1.1.0`` committed to the fleet repo through a canary to ``Succeeded`` with
``Promoted=True`` and the primary running 1.1.0. The objects it created for the Canary and the Lease
it holds are covered by the Roles the chart renders (kinds and verbs; the emulator enforces no RBAC).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import chart
from sandbox.cluster.rest import RawApi
from sandbox.gitserver import free_port
from sandbox.processes import ProcessRecord, stop_process
from sandbox.session import Sandbox
from tests.e2e.operator_support import CANARY_API, App, image, traffic_to
from tests.polling import eventually
from tests.unit.chart.helm import Manifest, controller_container, of_kind, one, render

pytestmark = pytest.mark.e2e

RELEASE_NS = "serinus-system"
"""The release namespace: the controller's own, holding its Lease and the webhook Secret."""
APP_NS = "chart-check"
"""The one namespace the chart makes the controller watch; the app and its Canary live here."""
WEBHOOK_SECRET = "chart-check-hmac"
RPS = 30.0

# What the controller creates for a Canary, as RBAC names it: kind -> (apiGroup, resource).
RESOURCES = {
    "Deployment": ("apps", "deployments"),
    "Service": ("", "services"),
    "HTTPRoute": ("gateway.networking.k8s.io", "httproutes"),
}


def chart_values(prometheus_url: str, metrics_port: int, cache_dir: Path) -> dict[str, Any]:
    """Values pointing the chart at this sandbox; everything else is the chart's default."""
    return {
        "watchNamespaces": [APP_NS],
        "leaderElection": {"enabled": True},  # the Lease in the release namespace (the default)
        "metrics": {"port": metrics_port, "server": prometheus_url},
        "git": {
            "cacheDir": str(cache_dir),
            "webhook": {"secretName": "serinus-git-webhook", "secretKey": "hmac"},
        },
        "tick": "500ms",
        "logFormat": "text",
    }


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` as a subprocess (its own session, output to ``log``); SIGTERM, then SIGKILL, on exit."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        stop_process(ProcessRecord.of(process.pid), grace=15.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-60:])
        print(f"--- the chart's controller (last lines of {log}) ---\n{tail}")  # shown when the test fails


def http_status(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> int | None:
    """The status of a GET (or a POST when ``body`` is given); None when nothing answers."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def role_rules(manifests: list[Manifest], namespace: str, name: str) -> list[dict[str, Any]]:
    """The rules of the Role the chart renders as ``namespace/name``."""
    for role in of_kind(manifests, "Role"):
        if role["metadata"]["namespace"] == namespace and role["metadata"]["name"] == name:
            return list(role["rules"])
    raise AssertionError(f"the chart renders no Role {namespace}/{name}")


def allows(
    rules: list[dict[str, Any]], group: str, resource: str, verb: str, name: str | None = None
) -> bool:
    """Whether one of ``rules`` grants ``verb`` on ``group``/``resource`` (named ``name``)."""
    return any(
        group in rule.get("apiGroups", []) and resource in rule.get("resources", []) and verb in rule["verbs"]
        and (not rule.get("resourceNames") or name in rule["resourceNames"])
        for rule in rules
    )  # fmt: skip


def lease_name_of(container: dict[str, Any]) -> str:
    """The Lease name the chart passed (``--lease-name=...``)."""
    names = [arg.split("=", 1)[1] for arg in container["args"] if arg.startswith("--lease-name=")]
    assert len(names) == 1, container["args"]
    return str(names[0])


def api_version_of(kind: str) -> str:
    """The apiVersion the sandbox serves ``kind`` under."""
    group = RESOURCES[kind][0]
    return f"{group}/v1" if group else "v1"


def owned_by(sandbox: Sandbox, canary: Manifest) -> list[Manifest]:
    """The objects of the RESOURCES kinds in the Canary's namespace that name it as their owner."""
    uid = canary["metadata"]["uid"]
    return [
        obj
        for kind in RESOURCES
        for obj in sandbox.list(api_version_of(kind), kind, canary["metadata"]["namespace"])
        if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
    ]


def test_the_chart_s_controller_promotes_a_canary_in_the_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    """``helm template`` -> the exact container command line and env -> one canary promoted."""
    cache_dir = tmp_path / "git-cache"
    cache_dir.mkdir()  # an emptyDir exists before the container starts
    port = free_port()
    manifests = render(chart_values(sandbox.prometheus_url, port, cache_dir), namespace=RELEASE_NS)
    deployment = one(manifests, "Deployment")
    container = controller_container(manifests)
    rendered = [*container["command"], *container["args"]]

    for ns in (RELEASE_NS, APP_NS):
        sandbox.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    sandbox.apply({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "serinus-git-webhook", "namespace": RELEASE_NS},
        "data": {"hmac": base64.b64encode(WEBHOOK_SECRET.encode()).decode()},
    })  # fmt: skip
    env = chart.resolve_env(container, RawApi(sandbox.api_client()), RELEASE_NS,
                            pod_name=f"{deployment['metadata']['name']}-0")  # as the kubelet does
    assert env["POD_NAMESPACE"] == RELEASE_NS
    assert env["SERINUS_GIT_WEBHOOK_SECRET"] == WEBHOOK_SECRET

    argv = chart.controller_command(manifests)
    assert [Path(argv[0]).name, *argv[1:]] == rendered
    print(f"the chart's controller: {argv}")

    app = App(sandbox, APP_NS)
    probe = container["readinessProbe"]["httpGet"]
    assert probe["port"] == "http"
    assert {"name": "http", "containerPort": port, "protocol": "TCP"} in container["ports"]
    base = f"http://127.0.0.1:{port}"
    process_env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig), **env}
    with running(argv, process_env, tmp_path, tmp_path / "controller.log") as process, \
            traffic_to(sandbox, app.host, RPS) as traffic:  # fmt: skip

        def alive() -> None:
            assert process.poll() is None, f"the chart's controller exited with code {process.returncode}"

        def ready() -> bool:
            alive()
            return http_status(base + probe["path"]) == 200

        eventually(ready, f"the controller to answer 200 on {probe['path']}", timeout=30)

        app.deploy("1.0.0")

        def initialized() -> bool:
            alive()
            return app.status().get("phase") == "Initialized" and app.route() == (100, 0)

        eventually(initialized, f"{app.ref} to be Initialized with its HTTPRoute at 100/0", timeout=60)
        assert app.running_image("-primary") == image("1.0.0")

        lease_name = lease_name_of(container)
        lease = sandbox.get("coordination.k8s.io/v1", "Lease", lease_name, RELEASE_NS)
        assert lease is not None, f"no Lease {RELEASE_NS}/{lease_name}"
        assert lease["spec"]["holderIdentity"] == socket.gethostname()

        commit = app.commit("1.1.0")
        # A push webhook signed with the Secret's value starts detection at once; a forged one is refused.
        body = b'{"ref": "refs/heads/main"}'
        hook = f"{base}/hooks/git/{APP_NS}/{app.name}"
        signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert http_status(hook, body, {"X-Serinus-Signature": signature}) == 202
        forged = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
        assert http_status(hook, body, {"X-Serinus-Signature": forged}) == 401

        def promoted() -> bool:
            alive()
            st = app.status()
            return (st.get("phase") == "Succeeded"
                    and (st.get("lastPromotedRevision") or {}).get("commit") == commit
                    and app.condition("Promoted").get("status") == "True")  # fmt: skip

        eventually(promoted, f"{app.ref} to be Succeeded with Promoted=True for {commit[:10]}", timeout=60)
        assert app.running_image("-primary") == image("1.1.0")
        assert app.declared() == image("1.1.0")
        assert traffic.counts().by_version.get("1.1.0", 0) > 0

        # What the controller did is what the chart's RBAC grants (the emulator itself enforces none).
        rules = role_rules(manifests, APP_NS, deployment["metadata"]["name"])
        canary = sandbox.get(CANARY_API, "Canary", app.name, APP_NS)
        assert canary is not None
        owned = owned_by(sandbox, canary)
        assert {o["kind"] for o in owned} == set(RESOURCES), [
            (o["kind"], o["metadata"]["name"]) for o in owned
        ]
        for obj in owned:
            group, resource = RESOURCES[obj["kind"]]
            assert allows(rules, group, resource, "create"), f"the chart's Role cannot create {resource}"
        assert allows(rules, "apps", "deployments", "update")  # the target is scaled down
        assert allows(rules, "serinus.dev", "canaries/status", "patch")
        lease_rules = role_rules(manifests, RELEASE_NS, f"{deployment['metadata']['name']}-leader-election")
        assert allows(lease_rules, "coordination.k8s.io", "leases", "create")
        assert allows(lease_rules, "coordination.k8s.io", "leases", "update", lease_name)
