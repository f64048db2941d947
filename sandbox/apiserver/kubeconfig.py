"""A kubeconfig pointing kubectl, the kubernetes client and kopf at the emulator."""

from __future__ import annotations

from pathlib import Path

import yaml


def kubeconfig(url: str, namespace: str = "default") -> str:
    """Kubeconfig text for a plain-HTTP server at `url` (any bearer token is accepted)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": url}}],
        "users": [{"name": "sandbox", "user": {"token": "sandbox"}}],
        "contexts": [
            {"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": namespace}}
        ],
        "current-context": "sandbox",
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_kubeconfig(path: Path | str, url: str) -> Path:
    """Write the kubeconfig for `url` to `path`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(kubeconfig(url))
    return target
