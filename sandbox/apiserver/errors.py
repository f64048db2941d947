"""Kubernetes `Status` failures, raised by the emulator and rendered as the real API server does."""

from __future__ import annotations

from typing import Any

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """A request that fails with a Kubernetes `Status` body."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.body = body
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        """The `Status` object the real API server returns for this failure."""
        if self.body is not None:
            return self.body
        return failure_status(self.code, self.message, self.reason, self.details)


def failure_status(
    code: int, message: str, reason: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A `v1 Status` with `status: Failure`."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def details(name: str, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    """`Status.details` as the real server writes it: an empty name or group (the core group) is left
    out (`omitempty`)."""
    found: dict[str, Any] = {"name": name, "group": group, "kind": kind}
    return {key: value for key, value in found.items() if value} | extra


def qualified(resource: str, group: str) -> str:
    """`deployments.apps`, or `configmaps` for the core group, as in the server's messages."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    """404 as `<resource>.<group> "<name>" not found`."""
    return ApiError(
        404,
        f'{qualified(resource, group)} "{name}" not found',
        details=details(name, group, resource),
    )


def already_exists(resource: str, group: str, name: str) -> ApiError:
    """409 AlreadyExists."""
    return ApiError(
        409,
        f'{qualified(resource, group)} "{name}" already exists',
        reason="AlreadyExists",
        details=details(name, group, resource),
    )


def conflict(resource: str, group: str, name: str) -> ApiError:
    """409 Conflict for a stale resourceVersion, worded like the real server."""
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        reason="Conflict",
        details=details(name, group, resource),
    )


def invalid(kind: str, group: str, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 Invalid with `details.causes`, message `<Kind>.<group> "<name>" is invalid: <field>: <msg>`."""
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(
        422,
        f'{qualified(kind, group)} "{name}" is invalid: {joined}',
        reason="Invalid",
        details=details(name, group, kind, causes=causes),
    )


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, message)


def unsupported_media(message: str) -> ApiError:
    """415 UnsupportedMediaType."""
    return ApiError(415, message)
