"""Plain-dict REST calls through the ``kubernetes`` client's own transport (auth, TLS, kubeconfig).

The generated typed APIs take and return model objects; the controllers work on raw objects as they
travel on the wire, so they send requests through :class:`RawApi` instead, which uses the very same
``ApiClient`` (serialisation of the request, configuration, auth settings) and raises the client's
:class:`~kubernetes.client.exceptions.ApiException` on an error status, as the typed calls do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

MERGE_PATCH = "application/merge-patch+json"


def collection_path(group: str, version: str, plural: str, namespace: str | None = None) -> str:
    """``/api/v1/namespaces/NS/pods`` or ``/apis/GROUP/VERSION[/namespaces/NS]/PLURAL``."""
    prefix = "/api/v1" if not group else f"/apis/{group}/{version}"
    return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"


class RawApi:
    """JSON-in, JSON-out requests on an ``ApiClient``."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.api = api

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        content_type: str = "application/json",
        query: Sequence[tuple[str, str]] = (),
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Send one request; return the decoded answer (``{}`` when empty); ApiException on >= 300."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        serialized = self.api.param_serialize(
            method, path, query_params=list(query), header_params=headers, body=body,
            auth_settings=["BearerToken"],
        )  # fmt: skip
        response = self.api.call_api(*serialized, _request_timeout=timeout)
        response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status < 300:
            raise ApiException(http_resp=response)
        data = response.data
        decoded: Any = json.loads(data) if data else {}
        return decoded if isinstance(decoded, dict) else {"items": decoded}

    def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST to a collection."""
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH with a JSON merge patch (lists are replaced whole; ``None`` deletes a key)."""
        return self.request("PATCH", path, body, content_type=MERGE_PATCH)

    def delete(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """DELETE one object."""
        return self.request("DELETE", path, body)
