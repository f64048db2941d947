"""Conformance of the API emulator as seen by the real kubectl binary (1.37): each test names the
Kubernetes behaviour it pins, and runs on the emulator and on the real kube-apiserver (the `server`
fixture; kubectl works in the test's namespace, the kubeconfig's context namespace)."""

from __future__ import annotations

import base64
import json
import time

from tests.integration.apiserver.clients import GROUP, WIDGET_CRD, Kubectl, Server, widget

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: IMAGE
        ports: [{containerPort: 8080}]
        env: [{name: MODE, value: MODEVALUE}]
"""


def _deployment(image: str, mode: str = "a") -> str:
    return DEPLOYMENT.replace("IMAGE", image).replace("MODEVALUE", mode)


def _install_crd(kubectl: Kubectl) -> None:
    kubectl.apply(WIDGET_CRD)
    kubectl.run("wait", "--for=condition=Established", f"crd/widgets.{GROUP}", "--timeout=20s")


def test_apply_creates_then_updates_a_deployment(kubectl: Kubectl) -> None:
    """Client-side apply: POST when absent, then a strategic-merge PATCH computed from the
    last-applied annotation; generation counts spec changes only; a no-op apply changes nothing."""
    assert "deployment.apps/web created" in kubectl.apply(_deployment("app:1"))
    first = kubectl.json("get", "deploy", "web")
    assert first["metadata"]["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in first["metadata"]["annotations"]

    assert "deployment.apps/web configured" in kubectl.apply(_deployment("app:2", mode="b"))
    second = kubectl.json("get", "deploy", "web")
    container = second["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "app:2"
    assert container["env"] == [{"name": "MODE", "value": "b"}]
    assert second["metadata"]["generation"] == 2
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])

    assert "deployment.apps/web unchanged" in kubectl.apply(_deployment("app:2", mode="b"))
    assert (
        kubectl.json("get", "deploy", "web")["metadata"]["resourceVersion"]
        == second["metadata"]["resourceVersion"]
    )


def test_get_resolves_short_names_and_prints_server_side_tables(kubectl: Kubectl) -> None:
    """Discovery short names (ns, cm, deploy) resolve, and `kubectl get` prints the server's Table
    columns (Namespace: NAME STATUS AGE; Deployment: NAME READY UP-TO-DATE AVAILABLE AGE)."""
    out = kubectl.run("get", "ns").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "AGE"]
    assert any(line.split()[:2] == ["default", "Active"] for line in out[1:])
    kubectl.apply(_deployment("app:1"))
    out = kubectl.run("get", "deploy").stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert out[1].split()[:4] == ["web", "0/2", "0", "0"]
    kubectl.run("create", "configmap", "settings", "--from-literal=a=1", "--from-literal=b=2")
    out = kubectl.run("get", "cm", "settings").stdout.splitlines()
    assert out[0].split() == ["NAME", "DATA", "AGE"]
    assert out[1].split()[:2] == ["settings", "2"]


def test_get_shows_crd_printer_columns_and_short_names(kubectl: Kubectl) -> None:
    """A CRD registers its resources in discovery (plural, short name, category `all`), and the
    Table uses its additionalPrinterColumns (STATUS and WEIGHT from JSONPaths)."""
    _install_crd(kubectl)
    kubectl.apply(widget("alpha"))
    kubectl.run(
        "patch",
        "widget",
        "alpha",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"phase": "Progressing", "weight": 20}}),
    )
    lines = kubectl.run("get", "wd").stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "WEIGHT", "AGE"]
    assert lines[1].split()[:3] == ["alpha", "Progressing", "20"]
    assert "widget.test.serinus.dev/alpha" in kubectl.run("get", "all", "-o", "name").stdout


def test_get_filters_by_label_selectors(kubectl: Kubectl) -> None:
    """Label selectors with =, !=, in, notin, exists and !exists, as `labels.Parse` reads them."""
    for name, labels in [
        ("a", {"app": "web", "tier": "front"}),
        ("b", {"app": "web", "tier": "back"}),
        ("c", {"app": "db"}),
        ("d", {}),
    ]:
        kubectl.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:  # of these four (the real server adds kube-root-ca.crt)
        found = kubectl.run("get", "cm", "-l", selector, "-o", "name").stdout.split()
        return [n for n in found if n in {"configmap/a", "configmap/b", "configmap/c", "configmap/d"}]

    assert names("app=web") == ["configmap/a", "configmap/b"]
    assert names("app!=web") == ["configmap/c", "configmap/d"]
    assert names("tier in (front,side)") == ["configmap/a"]
    assert names("tier notin (front),app") == ["configmap/b", "configmap/c"]
    assert names("tier") == ["configmap/a", "configmap/b"]
    assert names("!tier,app") == ["configmap/c"]


def test_patch_merge_json_and_strategic(kubectl: Kubectl) -> None:
    """kubectl patch: strategic merge merges containers by name and ports by containerPort (the
    patch's items first where they are new to the server); merge patch replaces lists; JSON patch
    applies ops and a failing `test` op is refused (422)."""
    kubectl.apply(_deployment("app:1"))
    sidecar = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "proxy", "image": "envoy:1"},
                        {"name": "web", "ports": [{"containerPort": 9090}]},
                    ]
                }
            }
        }
    }
    kubectl.run("patch", "deploy", "web", "-p", json.dumps(sidecar))
    containers = kubectl.json("get", "deploy", "web")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["proxy", "web"]
    assert containers[1]["image"] == "app:1"
    assert [p["containerPort"] for p in containers[1]["ports"]] == [9090, 8080]

    kubectl.run(
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"labels": {"team": "x"}}, "spec": {"replicas": 4}}),
    )
    got = kubectl.json("get", "deploy", "web")
    assert got["spec"]["replicas"] == 4 and got["metadata"]["labels"] == {"app": "web", "team": "x"}

    kubectl.run(
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        json.dumps(
            [
                {"op": "test", "path": "/spec/replicas", "value": 4},
                {"op": "replace", "path": "/spec/replicas", "value": 1},
                {"op": "remove", "path": "/metadata/labels/team"},
            ]
        ),
    )
    got = kubectl.json("get", "deploy", "web")
    assert got["spec"]["replicas"] == 1 and "team" not in got["metadata"]["labels"]

    failed = kubectl.run(
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        json.dumps(
            [
                {"op": "test", "path": "/spec/replicas", "value": 7},
                {"op": "replace", "path": "/spec/replicas", "value": 3},
            ]
        ),
        check=False,
    )
    assert failed.returncode != 0
    assert "The request is invalid: the server rejected our request due to an error in our request" in (
        failed.stderr
    )
    assert kubectl.json("get", "deploy", "web")["spec"]["replicas"] == 1


def test_label_adds_overwrites_and_removes(kubectl: Kubectl) -> None:
    """`kubectl label`: add, refuse to overwrite without --overwrite, overwrite, remove with `key-`."""
    kubectl.run("create", "configmap", "cfg")
    kubectl.run("label", "cm", "cfg", "stage=canary")
    refused = kubectl.run("label", "cm", "cfg", "stage=primary", check=False)
    assert refused.returncode != 0 and "already has a value" in refused.stderr
    kubectl.run("label", "cm", "cfg", "stage=primary", "--overwrite")
    assert kubectl.json("get", "cm", "cfg")["metadata"]["labels"] == {"stage": "primary"}
    kubectl.run("label", "cm", "cfg", "stage-")
    assert not kubectl.json("get", "cm", "cfg")["metadata"].get("labels")


def test_delete_and_not_found(kubectl: Kubectl) -> None:
    """DELETE removes the object; a later GET answers 404 NotFound with the server's wording."""
    kubectl.run("create", "configmap", "gone")
    assert 'configmap "gone" deleted' in kubectl.run("delete", "cm", "gone").stdout
    missing = kubectl.run("get", "cm", "gone", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): configmaps "gone" not found' in missing.stderr


def test_wait_for_condition(kubectl: Kubectl) -> None:
    """`kubectl wait --for=condition=Ready` watches the object and returns once a status write sets
    the condition (CRD Established is set by the server on creation)."""
    _install_crd(kubectl)
    kubectl.apply(widget("beta"))
    waiter = kubectl.popen("wait", "--for=condition=Ready", "widget/beta", "--timeout=30s")
    try:
        time.sleep(1.0)  # let kubectl start its watch before the condition appears
        assert waiter.poll() is None, waiter.communicate()
        kubectl.run(
            "patch",
            "widget",
            "beta",
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(
                {
                    "status": {
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True",
                                "reason": "Done",
                                "message": "ok",
                                "lastTransitionTime": "2026-01-01T00:00:00Z",
                            }
                        ]
                    }
                }
            ),
        )
        out, err = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
    assert waiter.returncode == 0, err
    assert "widget.test.serinus.dev/beta condition met" in out


def test_get_watch_streams_changes(kubectl: Kubectl) -> None:
    """`kubectl get -w` lists, then watches from the list's resourceVersion and prints each change."""
    kubectl.run("create", "configmap", "first")
    listed = kubectl.run("get", "cm", "-o", "name").stdout.split()  # the real server adds kube-root-ca.crt
    watcher = kubectl.popen("get", "cm", "-w", "--no-headers")
    try:
        assert watcher.stdout is not None
        initial = [watcher.stdout.readline().split()[0] for _ in listed]
        assert initial[0] == "first" and [f"configmap/{n}" for n in initial] == listed
        kubectl.run("create", "configmap", "second")
        second = watcher.stdout.readline()
        assert second.split()[0] == "second"
    finally:
        watcher.kill()
        watcher.communicate()


def test_create_commands_send_protobuf(server: Server, kubectl: Kubectl) -> None:
    """`kubectl create namespace|configmap|secret` and `kubectl scale` send protobuf bodies
    (kubectl 1.32+); the server decodes them; Secret stringData becomes base64 data."""
    team = server.new_namespace("team-a")
    kubectl.run("create", "namespace", team)
    assert kubectl.json("get", "ns", team)["status"]["phase"] == "Active"
    kubectl.run("-n", team, "create", "configmap", "cfg", "--from-literal=k=v")
    assert kubectl.json("-n", team, "get", "cm", "cfg")["data"] == {"k": "v"}
    kubectl.run("-n", team, "create", "secret", "generic", "creds", "--from-literal=token=s3cret")
    secret = kubectl.json("-n", team, "get", "secret", "creds")
    assert base64.b64decode(secret["data"]["token"]) == b"s3cret"
    assert secret["type"] == "Opaque"
    kubectl.apply(_deployment("app:1"))
    kubectl.run("scale", "deploy", "web", "--replicas=5")
    got = kubectl.json("get", "deploy", "web")
    assert got["spec"]["replicas"] == 5 and got["metadata"]["generation"] == 2


def test_delete_namespace_removes_its_contents(server: Server, kubectl: Kubectl) -> None:
    """Deleting a namespace marks it Terminating, deletes everything in it, then removes it."""
    doomed = server.new_namespace("doomed")
    kubectl.run("create", "namespace", doomed)
    kubectl.run("-n", doomed, "create", "configmap", "inside")
    kubectl.run("delete", "namespace", doomed, "--timeout=30s")
    assert kubectl.run("get", "ns", doomed, check=False).returncode == 1
    assert kubectl.run("-n", doomed, "get", "cm", "inside", check=False).returncode == 1


def test_apply_updates_custom_objects_and_crds(kubectl: Kubectl) -> None:
    """Client-side apply of a custom object updates it with a JSON merge patch (no strategic merge
    for custom resources); re-applying an unchanged CRD is a no-op; schema errors surface as 422."""
    _install_crd(kubectl)
    assert "unchanged" in kubectl.apply(WIDGET_CRD)
    kubectl.apply(widget("gamma", size=2))
    assert "widget.test.serinus.dev/gamma configured" in kubectl.apply(widget("gamma", size=4, note="n"))
    got = kubectl.json("get", "widget", "gamma")
    assert got["spec"] == {"size": 4, "note": "n", "color": "red"}
    assert got["metadata"]["generation"] == 2
    bad = kubectl.run("apply", "-f", "-", stdin=json.dumps(widget("gamma", size=0)), check=False)
    assert bad.returncode != 0
    assert 'The Widget "gamma" is invalid: spec.size: Invalid value: 0' in bad.stderr


INGRESS_AND_RBAC = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: podinfo, annotations: {nginx.ingress.kubernetes.io/canary: "false"}}
spec:
  ingressClassName: nginx
  rules:
  - host: podinfo.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: podinfo, port: {number: 9898}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: serinus}
rules:
- {apiGroups: [serinus.dev], resources: [canaries], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: serinus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: serinus}
subjects:
- {kind: ServiceAccount, name: serinus, namespace: default}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: serinus}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: serinus}}
"""


def test_ingress_rbac_and_pdb_are_built_in(kubectl: Kubectl) -> None:
    """networking.k8s.io/v1 Ingress (short name ing), rbac.authorization.k8s.io/v1 Role/RoleBinding and
    policy/v1 PodDisruptionBudget (pdb) are served as on a cluster, so the nginx router and a rendered
    Helm chart apply without stand-in CRDs."""
    kubectl.apply(INGRESS_AND_RBAC)
    ing = json.loads(kubectl.run("get", "ing", "podinfo", "-o", "json").stdout)
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    assert ing["metadata"]["generation"] == 1
    assert ing["spec"]["rules"][0]["host"] == "podinfo.example.com"
    names = kubectl.run("get", "role,rolebinding,pdb", "-o", "name").stdout.split()
    assert names == [
        "role.rbac.authorization.k8s.io/serinus",
        "rolebinding.rbac.authorization.k8s.io/serinus",
        "poddisruptionbudget.policy/serinus",
    ]
