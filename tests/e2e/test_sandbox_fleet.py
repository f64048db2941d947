"""End to end on a sandbox: the fleet repository is served over git://, and what it declares runs.

Pins: cloning ``Sandbox.git_url`` with the real ``git`` gives ``apps/podinfo/deployment.yaml`` declaring
``demo/podinfo:1.0.0`` with the Flux image-policy marker on the image line; applying that manifest (as a
GitOps agent would) with a Service and an HTTPRoute for the demo host makes the sandbox's own steady
traffic generator receive answers from ``1.0.0``; a push to the repository over git:// is accepted.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml

from sandbox.session import Sandbox

pytestmark = pytest.mark.e2e

MANIFEST = "apps/podinfo/deployment.yaml"


def _git(*args: str, cwd: Path | None = None) -> str:
    identity = ["-c", "user.name=Fleet Test", "-c", "user.email=fleet@test.invalid"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_the_fleet_repo_declares_podinfo_and_what_it_declares_serves_the_demo_host(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    clone = tmp_path / "fleet"
    _git("clone", "--quiet", sandbox.git_url, str(clone))
    text = (clone / MANIFEST).read_text()
    image_line = next(line for line in text.splitlines() if "image:" in line)
    assert "demo/podinfo:1.0.0" in image_line
    assert '# {"$imagepolicy": "flux-system:podinfo"}' in image_line

    manifest = yaml.safe_load(text)
    sandbox.apply(manifest)
    sandbox.apply(
        """
apiVersion: v1
kind: Service
metadata: {name: podinfo}
spec:
  selector: {app: podinfo}
  ports: [{name: http, port: 9898, targetPort: http}]
"""
    )
    deadline = time.monotonic() + 30
    while (sandbox.get("apps/v1", "Deployment", "podinfo") or {}).get("status", {}).get("readyReplicas") != 2:
        assert time.monotonic() < deadline, "podinfo did not become ready"
        time.sleep(0.2)
    sandbox.apply(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "podinfo"},
            "spec": {
                "hostnames": [sandbox.demo_host],
                "rules": [{"backendRefs": [{"name": "podinfo", "port": 9898}]}],
            },
        }
    )
    before = sandbox.traffic_counts().by_version.get("1.0.0", 0)
    deadline = time.monotonic() + 30
    while sandbox.traffic_counts().by_version.get("1.0.0", 0) < before + 20:
        assert time.monotonic() < deadline, f"the steady traffic saw no 1.0.0: {sandbox.traffic_counts()}"
        time.sleep(0.25)

    # the repository accepts pushes over git:// (the controller's revert commits arrive this way)
    (clone / MANIFEST).write_text(text.replace("demo/podinfo:1.0.0", "demo/podinfo:1.1.0"))
    _git("commit", "--quiet", "-am", "podinfo 1.1.0", cwd=clone)
    _git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
    pushed = _git("--git-dir", str(sandbox.fleet_repo), "show", f"main:{MANIFEST}")
    assert "demo/podinfo:1.1.0" in pushed
