"""The real control plane as these tests drive it: kubectl against it, Serinus' CRDs and the upstream
mesh CRDs installed once (create-if-absent: the server is shared by the session and CRDs are
cluster-scoped, so they are never deleted), namespaces of a module's own, and the API emulator beside
it for the tests that compare both servers' answers.

The upstream mesh CRDs are read from the corpus in ``/work/shared/corpus/crds`` (``INDEX.json``
names every file and the CRDs in it; :data:`CORPUS_ENV` points elsewhere), never copied into the
project. When the corpus is missing the tests fail saying so.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.apiserver.testing import RunningApiServer
from sandbox.kubernetes.controlplane import ControlPlane
from sandbox.kubernetes.testing import unique_namespace
from tests.polling import eventually

ROOT = Path(__file__).resolve().parents[3]
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
SERINUS_CRDS = (
    ROOT / "crds" / "canaries.serinus.dev.yaml",
    ROOT / "crds" / "metrictemplates.serinus.dev.yaml",
)
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
CORPUS_ENV = "SERINUS_CRD_CORPUS"
"""Overrides where the corpus of upstream CRDs is (default ``/work/shared/corpus/crds``)."""
DEFAULT_CORPUS = Path("/work/shared/corpus/crds")

MESH_CRDS: dict[str, str] = {
    "httproutes.gateway.networking.k8s.io": "v1",
    "virtualservices.networking.istio.io": "v1beta1",
    "destinationrules.networking.istio.io": "v1beta1",
    "trafficsplits.split.smi-spec.io": "v1alpha2",
}
"""The upstream CRDs Serinus' providers write, and the version they write (controller.routers)."""
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@dataclass
class Kubectl:
    """The real kubectl against one kubeconfig, with a private discovery cache."""

    kubeconfig: Path
    cache: Path

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; with `check`, fail the test with its stderr when it fails."""
        cmd = [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        """``kubectl ... -o json``, parsed."""
        return json.loads(self.run(*args, "-o", "json").stdout)


@dataclass
class Servers:
    """The real control plane and the emulator of one module, with the namespaces made on the real
    one (deleted when the module ends)."""

    plane: ControlPlane
    kube: Kubectl
    emulator: RunningApiServer
    emu: Kubectl
    namespaces: list[str] = field(default_factory=list)

    def namespace(self, prefix: str) -> str:
        """A new namespace of the same name on both servers."""
        name = unique_namespace(prefix)
        for kubectl in (self.kube, self.emu):
            kubectl.run("create", "namespace", name)
        self.namespaces.append(name)
        return name

    def table(self, path: str, *, real: bool) -> dict[str, Any]:
        """GET ``path`` as a ``meta.k8s.io/v1`` Table (what kubectl get asks for), from one server."""
        if real:
            assert self.plane.pki is not None
            url, token = self.plane.url, self.plane.tokens["admin"]
            context: ssl.SSLContext | None = ssl.create_default_context(cafile=str(self.plane.pki.ca_cert))
        else:
            url, token, context = self.emulator.url, "sandbox", None
        request = urllib.request.Request(  # our own servers on 127.0.0.1
            url + path, headers={"Authorization": f"Bearer {token}", "Accept": TABLE}
        )
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def cleanup(self) -> None:
        """Delete this module's namespaces on the real server (not waited for)."""
        if self.namespaces:
            self.kube.run("delete", "namespace", "--wait=false", "--ignore-not-found", *self.namespaces)
        self.namespaces.clear()


def corpus_dir() -> Path:
    """The corpus of upstream CRDs; fails the test, naming what is missing, when it is absent."""
    directory = Path(os.environ.get(CORPUS_ENV) or DEFAULT_CORPUS)
    if not (directory / "INDEX.json").is_file():
        pytest.fail(
            f"the corpus of upstream CRDs is missing: no {directory / 'INDEX.json'} (the mesh CRDs of "
            f"Gateway API, Istio and SMI are read from it; set {CORPUS_ENV} to where it is)",
            pytrace=False,
        )
    return directory


def corpus_crd(name: str, version: str) -> dict[str, Any]:
    """The upstream CRD ``name`` serving ``version``, from the corpus (standard channel first)."""
    directory = corpus_dir()
    index = json.loads((directory / "INDEX.json").read_text())
    candidates = [
        entry["file"]
        for entry in index["files"]
        for crd in entry.get("crds") or []
        if crd["name"] == name and version in crd.get("served_versions", [])
    ]
    candidates.sort(key=lambda file: "experimental" in file)
    if not candidates:
        pytest.fail(f"the corpus {directory} has no CRD {name} serving {version}", pytrace=False)
    for doc in yaml.safe_load_all((directory / candidates[0]).read_text()):
        if doc and doc.get("kind") == "CustomResourceDefinition" and doc["metadata"]["name"] == name:
            return dict(doc)
    pytest.fail(f"{directory / candidates[0]} does not hold the CRD {name} its index names", pytrace=False)


def established(kubectl: Kubectl, names: Iterable[str]) -> None:
    """Wait until every CRD of ``names`` is Established and its names accepted."""
    refs = [f"crd/{name}" for name in names]
    kubectl.run("wait", "--for=condition=Established", "--timeout=30s", *refs)
    kubectl.run("wait", "--for=condition=NamesAccepted", "--timeout=30s", *refs)


def ensure_crds(kubectl: Kubectl, crds: Iterable[dict[str, Any]]) -> None:
    """Create each CRD unless the server has it already (another test of the session may have made
    it from the same file), then wait until all are Established. Never deleted: CRDs are shared."""
    bodies = list(crds)
    have = {
        line.split("/", 1)[1]
        for line in kubectl.run("get", "crd", "-o", "name").stdout.split()
        if line.startswith("customresourcedefinition")
    }
    for body in bodies:
        if body["metadata"]["name"] not in have:
            done = kubectl.run("create", "-f", "-", stdin=json.dumps(body), check=False)
            if done.returncode != 0 and "AlreadyExists" not in done.stderr:
                raise AssertionError(f"CRD {body['metadata']['name']} refused:\n{done.stderr}")
    established(kubectl, [body["metadata"]["name"] for body in bodies])


def serinus_crds() -> list[dict[str, Any]]:
    """Serinus' own CRDs, as crds/ declares them."""
    return [yaml.safe_load(path.read_text()) for path in SERINUS_CRDS]


def mesh_crds() -> list[dict[str, Any]]:
    """The upstream CRDs of the mesh objects Serinus' providers write."""
    return [corpus_crd(name, version) for name, version in MESH_CRDS.items()]


def regrouped(crd: dict[str, Any], group: str) -> dict[str, Any]:
    """The same definition in another API group (its name follows; the API-approval annotation of a
    ``*.k8s.io`` group is dropped, as the server refuses it on any other group)."""
    copied: dict[str, Any] = json.loads(json.dumps(crd))
    copied["spec"]["group"] = group
    meta = copied["metadata"]
    meta["name"] = f"{copied['spec']['names']['plural']}.{group}"
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != "api-approved.kubernetes.io"
    }
    meta["annotations"] = annotations
    return copied


def served(kubectl: Kubectl, resource: str, namespace: str) -> None:
    """Wait until ``resource`` is listable in ``namespace`` (a new CRD is served a moment later)."""
    eventually(
        lambda: kubectl.run("get", resource, "-n", namespace, check=False).returncode == 0,
        f"{resource} to be served",
        timeout=30,
    )


def kubectl_for(kubeconfig: Path, cache: Path) -> Kubectl:
    """kubectl with a discovery cache of its own."""
    cache.mkdir(parents=True, exist_ok=True)
    return Kubectl(kubeconfig, cache)


def without_status(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without ``status`` (what a write of a Canary sets)."""
    return {k: v for k, v in obj.items() if k != "status"}


def documents(path: Path) -> Iterator[dict[str, Any]]:
    """The non-empty YAML documents of a file."""
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            yield dict(doc)
