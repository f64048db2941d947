"""Secrets and MetricTemplates, looked up by name: real adapters and in-memory fakes.

Secrets are read one by one by name (``get``, never ``list``/``watch``: the operator needs RBAC for
named Secrets only). MetricTemplates come from kopf's index when the operator runs (no API call per
check) and from the API otherwise (the CLI, tests).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from kubernetes import client as k8s

from controller.kube.objects import DEFAULT_TIMEOUT, KubeObjects, Objects, Resource

METRIC_TEMPLATE = Resource("serinus.dev", "v1alpha1", "metrictemplates", "MetricTemplate")
SECRET = Resource("", "v1", "secrets", "Secret")


def decode_secret_data(data: Mapping[str, str | bytes] | None) -> dict[str, str]:
    """Base64-decode a Secret's ``data`` (undecodable entries are dropped, not guessed)."""
    out: dict[str, str] = {}
    for key, value in (data or {}).items():
        try:
            out[key] = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
    return out


class KubeSecrets:
    """`SecretReader` over a GET of the named Secret (through ``KubeObjects``, not ``CoreV1Api``,
    whose import alone costs about 20 MiB of resident memory)."""

    def __init__(self, api_client: k8s.ApiClient, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self._objects = KubeObjects(api_client, timeout)

    def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The decoded data, or None on 404 (other errors propagate)."""
        secret = self._objects.get(SECRET, namespace, name)
        if secret is None:
            return None
        data = decode_secret_data(secret.get("data"))
        for key, value in (secret.get("stringData") or {}).items():
            data.setdefault(key, value)
        return data


class MemorySecrets:
    """In-memory `SecretReader`; ``reads`` records each (namespace, name) asked for."""

    def __init__(self, secrets: Mapping[tuple[str, str], Mapping[str, str]] | None = None) -> None:
        self.secrets = {k: dict(v) for k, v in (secrets or {}).items()}
        self.reads: list[tuple[str, str]] = []

    def read(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The stored data, or None."""
        self.reads.append((namespace, name))
        return self.secrets.get((namespace, name))


class ApiTemplates:
    """`TemplateLookup` reading MetricTemplates through the `Objects` port."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The MetricTemplate, or None."""
        return self.objects.get(METRIC_TEMPLATE, namespace, name)


class IndexTemplates:
    """`TemplateLookup` over kopf's ``@kopf.index`` of MetricTemplates keyed by ``(namespace, name)``.

    The index is the live mapping kopf passes to handlers; it is stored here on first use.
    """

    def __init__(self) -> None:
        self.index: Mapping[tuple[str, str], Iterable[Mapping[str, Any]]] | None = None

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The indexed template, or None (also before kopf filled the index)."""
        if self.index is None:
            return None
        for template in self.index.get((namespace, name), ()):
            return template
        return None


class MemoryTemplates:
    """In-memory `TemplateLookup` for tests."""

    def __init__(self, templates: Iterable[Mapping[str, Any]] = ()) -> None:
        self.templates: dict[tuple[str, str], Mapping[str, Any]] = {}
        for template in templates:
            meta = template.get("metadata") or {}
            self.templates[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = template

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The template, or None."""
        return self.templates.get((namespace, name))
