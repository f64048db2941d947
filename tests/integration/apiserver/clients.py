"""Helpers driving an API server (the emulator or the real kube-apiserver) through the real clients:
kubectl, the kubernetes client, raw HTTP."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import kubernetes
import pytest

from sandbox.kubernetes.testing import unique_namespace

ROOT = Path(__file__).resolve().parents[3]
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"

GROUP = "test.serinus.dev"

# A test CRD shaped like Serinus' own: status subresource, printer columns, enums and bounds.
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "listKind": "WidgetList",
            "shortNames": ["wd"],
            "categories": ["all"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Weight", "type": "integer", "jsonPath": ".status.weight"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                    "color": {"type": "string", "enum": ["red", "green"], "default": "red"},
                                    "note": {"type": "string"},
                                },
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                                "properties": {
                                    "phase": {"type": "string"},
                                    "weight": {"type": "integer"},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, size: int = 3, **spec: Any) -> dict[str, Any]:
    """A Widget custom object."""
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size, **spec},
    }


@dataclass
class Kubectl:
    """The real kubectl binary against one kubeconfig, with a private discovery cache."""

    kubeconfig: Path
    cache: Path

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; raise with its stderr when `check` and it fails."""
        cmd = [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start kubectl in the background (watches, waits) with text pipes."""
        cmd = [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache), *args]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def json(self, *args: str) -> Any:
        """kubectl ... -o json, parsed."""
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, manifest: dict[str, Any] | str, *args: str) -> str:
        """kubectl apply -f - with a manifest (dict or YAML/JSON text)."""
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.run("apply", "-f", "-", *args, stdin=text).stdout


def client(kubeconfig: Path) -> Any:
    """A kubernetes ApiClient configured from the kubeconfig only (no global state)."""
    load: Any = kubernetes.config.new_client_from_config  # untyped in the client
    return load(config_file=str(kubeconfig))


def http(
    url: str,
    method: str = "GET",
    body: Any = None,
    *,
    content_type: str = "application/json",
    accept: str = "application/json",
    raw: bytes | None = None,
    token: str | None = None,
    context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One raw HTTP request; returns (status, headers, parsed JSON body or text)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": content_type, "Accept": accept, **(headers or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            status, headers, text = resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        status, headers, text = err.code, dict(err.headers), err.read().decode()
    try:
        return status, headers, json.loads(text)
    except ValueError:
        return status, headers, text


ServerKind = Literal["emulator", "kubernetes"]


@dataclass
class Server:
    """The API server one test runs against: the emulator (a fresh one per test) or the real
    kube-apiserver (shared by the session). `kubeconfig` is the test's own, its context namespace
    being `namespace`, the namespace the test works in (created for it, deleted after it)."""

    kind: ServerKind
    url: str
    kubeconfig: Path
    namespace: str
    token: str | None = None
    ca: Path | None = None
    namespaces: list[str] = field(default_factory=list)
    """Every namespace made for the test (`namespace` first, then those of :meth:`new_namespace`)."""
    settle: Callable[[], None] | None = None

    def wait_quiet(self) -> None:
        """Wait until nothing but this test uses the server (on the shared real server: no namespace
        is terminating); at once on the emulator, which is the test's own."""
        if self.settle is not None:
            self.settle()

    @property
    def emulator(self) -> bool:
        return self.kind == "emulator"

    def new_namespace(self, prefix: str) -> str:
        """A name, not yet used, for a namespace the test creates itself; deleted after the test."""
        name = unique_namespace(prefix)
        self.namespaces.append(name)
        return name

    def path(self, path: str) -> str:
        """`path` with `NS` replaced by the test's namespace (`/api/v1/namespaces/NS/configmaps`)."""
        return path.replace("/namespaces/NS/", f"/namespaces/{self.namespace}/")

    def context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=str(self.ca)) if self.ca else None

    def http(
        self,
        path: str,
        method: str = "GET",
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """:func:`http` to `url` + `path` (see :meth:`path`) with the server's credentials."""
        return http(
            self.url + self.path(path),
            method,
            body,
            content_type=content_type,
            accept=accept,
            raw=raw,
            token=self.token,
            context=self.context(),
        )

    def watch_lines(self, path: str) -> list[dict[str, Any]]:
        """GET a watch `path` to its end (timeoutSeconds) and return its JSON lines."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        req = urllib.request.Request(self.url + self.path(path), headers=headers)
        with urllib.request.urlopen(req, timeout=30, context=self.context()) as resp:
            assert resp.headers["Content-Type"].startswith("application/json")
            return [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]


def emulator_only(reason: str) -> pytest.MarkDecorator:
    """Run a test on the emulator only (its id then ends in ``[emulator]``). `reason` says which of the
    emulator's own switches it needs that the real kube-apiserver has not; never "it fails there"."""
    if not reason.strip():
        raise ValueError("an emulator-only test states why")
    return pytest.mark.parametrize("server", ["emulator"], indirect=True)
