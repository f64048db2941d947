"""A tiny HTTP server that records the request bodies the real kubectl sends, and the commands we pin.

It answers just enough discovery (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`)
for kubectl to resolve the built-in kinds, records every POST/PUT/PATCH with its content type, and
answers writes with 201/200 and a small JSON object so kubectl reports success. Aggregated discovery
requests get plain `application/json`, which makes kubectl fall back to the legacy documents.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

KUBECTL = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "kubectl"


def _resource(name: str, kind: str, namespaced: bool, short: list[str] | None = None) -> dict[str, Any]:
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    if "/" in name:
        verbs = ["get", "patch", "update"]
    out: dict[str, Any] = {
        "name": name,
        "singularName": "" if "/" in name else kind.lower(),
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    }
    if short:
        out["shortNames"] = short
    if "/scale" in name:
        out["group"] = "autoscaling"
        out["version"] = "v1"
    return out


CORE_V1 = [
    _resource("namespaces", "Namespace", False, ["ns"]),
    _resource("configmaps", "ConfigMap", True, ["cm"]),
    _resource("secrets", "Secret", True),
    _resource("serviceaccounts", "ServiceAccount", True, ["sa"]),
    _resource("services", "Service", True, ["svc"]),
    _resource("events", "Event", True, ["ev"]),
    _resource("replicationcontrollers", "ReplicationController", True, ["rc"]),
    _resource("replicationcontrollers/scale", "Scale", True),
    _resource("pods", "Pod", True, ["po"]),
    _resource("resourcequotas", "ResourceQuota", True, ["quota"]),
    _resource("serviceaccounts/token", "TokenRequest", True),
]

GROUPS: dict[str, list[dict[str, Any]]] = {
    "apps/v1": [
        _resource("deployments", "Deployment", True, ["deploy"]),
        _resource("deployments/scale", "Scale", True),
        _resource("replicasets", "ReplicaSet", True, ["rs"]),
        _resource("replicasets/scale", "Scale", True),
    ],
    "coordination.k8s.io/v1": [_resource("leases", "Lease", True)],
    "batch/v1": [_resource("jobs", "Job", True), _resource("cronjobs", "CronJob", True, ["cj"])],
    "rbac.authorization.k8s.io/v1": [
        _resource("roles", "Role", True),
        _resource("rolebindings", "RoleBinding", True),
    ],
    "policy/v1": [_resource("poddisruptionbudgets", "PodDisruptionBudget", True, ["pdb"])],
    "networking.k8s.io/v1": [_resource("ingresses", "Ingress", True, ["ing"])],
    "autoscaling/v1": [_resource("horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ["hpa"])],
}

# What a GET of an existing object returns: enough for `kubectl scale` and friends to proceed.
_KIND_OF_PLURAL = {r["name"]: r["kind"] for rs in [CORE_V1, *GROUPS.values()] for r in rs}


@dataclass(frozen=True)
class Captured:
    """One write request kubectl sent."""

    method: str
    path: str
    content_type: str
    body: bytes


@dataclass
class CaptureServer:
    """A running capture server: its URL and the writes recorded so far."""

    url: str
    records: list[Captured] = field(default_factory=list)

    def kubeconfig(self, directory: Path) -> Path:
        """Write a kubeconfig pointing at this server into `directory` and return its path."""
        path = directory / "kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "capture", "cluster": {"server": self.url}}],
                    "users": [{"name": "capture", "user": {"token": "capture"}}],
                    "contexts": [
                        {
                            "name": "capture",
                            "context": {"cluster": "capture", "user": "capture", "namespace": "default"},
                        }
                    ],
                    "current-context": "capture",
                }
            )
        )
        return path

    def kubectl(self, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the project's kubectl against this server (no cache, short timeout)."""
        return subprocess.run(
            [
                str(KUBECTL),
                f"--kubeconfig={kubeconfig}",
                f"--cache-dir={kubeconfig.parent / 'cache'}",
                "--request-timeout=20s",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


_OBJECT_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<gv>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)


def _object_for(path: str) -> dict[str, Any]:
    """A plausible object for a GET or a write reply at `path`."""
    m = _OBJECT_PATH.match(path)
    if m is None:
        return {"kind": "Status", "apiVersion": "v1", "status": "Success"}
    api_version = "v1" if m["core"] else f"{m['group']}/{m['gv']}"
    plural = m["plural"]
    name = m["name"] or "captured"
    meta: dict[str, Any] = {
        "name": name,
        "resourceVersion": "1",
        "uid": "00000000-0000-0000-0000-000000000001",
    }
    if m["ns"]:
        meta["namespace"] = m["ns"]
    if m["sub"] == "scale":
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": meta,
            "spec": {"replicas": 1},
            "status": {"replicas": 1, "selector": "app=x"},
        }
    kind = _KIND_OF_PLURAL.get(plural, "Unknown")
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version, "metadata": meta}
    if kind in {"Deployment", "ReplicaSet"}:
        obj["spec"] = {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "x"}]},
            },
        }
        obj["status"] = {"replicas": 1}
    return obj


def _make_handler(server: CaptureServer, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        def _send(self, status: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/version":
                self._send(
                    200, {"major": "1", "minor": "37", "gitVersion": "v1.37.0", "platform": "linux/amd64"}
                )
            elif path == "/api":
                self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
            elif path == "/api/v1":
                self._send(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": CORE_V1})
            elif path == "/apis":
                groups = []
                for gv in GROUPS:
                    group, version = gv.split("/")
                    ref = {"groupVersion": gv, "version": version}
                    groups.append({"name": group, "versions": [ref], "preferredVersion": ref})
                self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            elif path.startswith("/apis/") and path.count("/") == 3 and path[len("/apis/") :] in GROUPS:
                gv = path[len("/apis/") :]
                self._send(200, {"kind": "APIResourceList", "groupVersion": gv, "resources": GROUPS[gv]})
            elif path.startswith("/openapi"):
                self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})
            else:
                self._send(200, _object_for(path))

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            with lock:
                server.records.append(
                    Captured(self.command, path, self.headers.get("Content-Type", ""), body)
                )
            self._send(201 if self.command == "POST" else 200, _object_for(path))

        do_POST = _record
        do_PUT = _record
        do_PATCH = _record
        do_DELETE = _record

    return Handler


@contextmanager
def capture_server() -> Iterator[CaptureServer]:
    """Serve on a free loopback port until the block ends."""
    lock = threading.Lock()
    state = CaptureServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state, lock))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@dataclass(frozen=True)
class Command:
    """A kubectl command whose request body is pinned by a fixture `<name>.pb`."""

    name: str
    args: tuple[str, ...]
    content_type: str  # what kubectl 1.37 sends for it


# `{dir}` stands for a scratch directory holding the files of FILES.
COMMANDS: tuple[Command, ...] = (
    Command("namespace", ("create", "namespace", "demo"), "application/vnd.kubernetes.protobuf"),
    Command(
        "configmap",
        (
            "create",
            "configmap",
            "settings",
            "-n",
            "demo",
            "--from-literal=color=blue",
            "--from-literal=size=10",
        ),
        "application/vnd.kubernetes.protobuf",
    ),
    Command(
        "configmap_files",
        (
            "create",
            "configmap",
            "files",
            "-n",
            "demo",
            "--from-file=app.conf={dir}/app.conf",
            "--from-file=blob.bin={dir}/blob.bin",
            "--save-config",
        ),
        "application/vnd.kubernetes.protobuf",
    ),
    Command(
        "secret_generic",
        (
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "demo",
            "--from-literal=user=admin",
            "--from-literal=password=s3cr=t",
        ),
        "application/vnd.kubernetes.protobuf",
    ),
    Command(
        "secret_typed",
        (
            "create",
            "secret",
            "generic",
            "token",
            "-n",
            "demo",
            "--type=example.com/token",
            "--from-literal=token=abc",
        ),
        "application/vnd.kubernetes.protobuf",
    ),
    Command(
        "serviceaccount",
        ("create", "serviceaccount", "robot", "-n", "demo"),
        "application/vnd.kubernetes.protobuf",
    ),
    Command(
        "service",
        ("create", "service", "clusterip", "web", "-n", "demo", "--tcp=80:8080", "--tcp=9090:metrics"),
        "application/vnd.kubernetes.protobuf",
    ),
    Command(
        "deployment",
        ("create", "deployment", "web", "-n", "demo", "--image=nginx:1.27", "--replicas=3", "--port=8080"),
        "application/vnd.kubernetes.protobuf",
    ),
    Command(
        "deployment_command",
        (
            "create",
            "deployment",
            "sleeper",
            "-n",
            "demo",
            "--image=busybox",
            "--replicas=0",
            "--",
            "sleep",
            "3600",
        ),
        "application/vnd.kubernetes.protobuf",
    ),
    Command(
        "scale", ("scale", "deployment", "web", "-n", "demo", "--replicas=5"), "application/merge-patch+json"
    ),
)

# Scratch files some commands read; blob.bin is not UTF-8, so kubectl puts it in binaryData.
FILES: dict[str, bytes] = {"app.conf": b"listen 8080\nworkers 2\n", "blob.bin": b"\x00\xff\xfe\x01binary"}


def command_args(command: Command, scratch: Path) -> list[str]:
    """The command's arguments with `{dir}` filled in, after writing the scratch files there."""
    for name, data in FILES.items():
        (scratch / name).write_bytes(data)
    return [arg.replace("{dir}", str(scratch)) for arg in command.args]


def dry_run_args(command: Command, scratch: Path) -> list[str]:
    """The same command asking kubectl to print, as JSON, the object it would send (the oracle)."""
    args = command_args(command, scratch)
    split = args.index("--") if "--" in args else len(args)
    return [*args[:split], "--dry-run=client", "--output=json", *args[split:]]


def capture(commands: tuple[Command, ...], scratch: Path) -> dict[str, Captured]:
    """Run each command against a capture server; the one write each sends, by command name."""
    out: dict[str, Captured] = {}
    with capture_server() as server:
        kubeconfig = server.kubeconfig(scratch)
        for command in commands:
            before = len(server.records)
            result = server.kubectl(kubeconfig, *command_args(command, scratch))
            if result.returncode != 0:
                raise RuntimeError(f"kubectl {command.name} failed: {result.stderr.strip()}")
            writes = server.records[before:]
            if len(writes) != 1:
                raise RuntimeError(f"kubectl {command.name} sent {len(writes)} writes, expected 1: {writes}")
            out[command.name] = writes[0]
    return out


def fixture_name(command: str, content_type: str) -> str:
    """`<command>.pb` for a protobuf body, `<command>.json` for a JSON one."""
    return f"{command}.pb" if "protobuf" in content_type else f"{command}.json"


def main(argv: list[str] | None = None) -> int:
    """Regenerate the fixtures: `python -m tests.unit.apiserver_protobuf.kubectl_capture DIR`."""
    import sys
    import tempfile

    target = Path((argv if argv is not None else sys.argv[1:])[0])
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for name, write in capture(COMMANDS, Path(scratch)).items():
            (target / fixture_name(name, write.content_type)).write_bytes(write.body)
            print(f"{name}: {write.method} {write.path} {write.content_type} {len(write.body)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
