"""A MetricTemplate's ``spec.provider`` turned into the :class:`ProviderConfig` queries run with.

``address`` (default: the operator's ``--metrics-server``), ``timeout`` (a duration such as ``2s`` or
``500ms``; default the operator's metrics timeout, 5 s), ``insecureSkipVerify`` (default false) and
the credentials read from ``secretRef`` (``token``/``bearerToken``, or ``username`` and ``password``).
A value that cannot be used raises :class:`TemplateProviderError` naming the field and the value; the
reconcile loop turns it into an ``ERROR`` check (it holds the weight, it never rolls back).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analysis.providers import ProviderConfig
from controller.core.durations import DurationError, parse_duration


class TemplateProviderError(ValueError):
    """A MetricTemplate's ``spec.provider`` has a value the operator cannot use."""


def template_provider_config(provider: Mapping[str, Any], secret: Mapping[str, str] | None, *,
                             default_address: str, default_timeout: float) -> ProviderConfig:
    """The config of one MetricTemplate's provider; ``secret`` is the data of its ``secretRef``."""
    timeout = default_timeout
    raw_timeout = provider.get("timeout")
    if raw_timeout is not None:
        if not isinstance(raw_timeout, str):
            raise TemplateProviderError(f"spec.provider.timeout: {raw_timeout!r} is not a duration; "
                                        'expected text like "5s" or "500ms"')
        try:
            timeout = parse_duration(raw_timeout)
        except DurationError as exc:
            raise TemplateProviderError(f"spec.provider.timeout: {exc}") from exc
        if timeout <= 0:
            raise TemplateProviderError(f'spec.provider.timeout: "{raw_timeout}" must be longer than 0')
    insecure = provider.get("insecureSkipVerify", False)
    if not isinstance(insecure, bool):
        raise TemplateProviderError(f"spec.provider.insecureSkipVerify: {insecure!r} is not true or false")
    data = secret or {}
    return ProviderConfig(
        type=str(provider.get("type") or "prometheus"),
        address=str(provider.get("address") or default_address),
        bearer_token=data.get("token") or data.get("bearerToken") or None,
        username=data.get("username") or None,
        password=data.get("password") or None,
        timeout=timeout,
        verify_tls=not insecure,
    )
