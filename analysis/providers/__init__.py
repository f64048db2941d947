"""Metric providers: adapters that answer queries (see :class:`analysis.query.MetricProvider`).

:data:`PROVIDER_TYPES` maps a MetricTemplate ``spec.provider.type`` to a factory;
:func:`make_provider` fails loudly on unknown types and on addresses outside the allowlist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from analysis.providers.allowlist import AddressNotAllowed, Allowlist
from analysis.query import MetricProvider

__all__ = [
    "PROVIDER_TYPES",
    "AddressNotAllowed",
    "Allowlist",
    "ProviderConfig",
    "UnknownProviderType",
    "make_provider",
]


class UnknownProviderType(KeyError):
    """No factory is registered for a provider type."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown provider type"


@dataclass(frozen=True)
class ProviderConfig:
    """How to reach one metric server: the MetricTemplate's ``spec.provider`` with its Secret resolved."""

    type: str = "prometheus"
    address: str = ""
    bearer_token: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = 5.0
    verify_tls: bool = True

    def __repr__(self) -> str:  # credentials never end up in logs
        return f"ProviderConfig(type={self.type!r}, address={self.address!r}, timeout={self.timeout!r})"


def _prometheus(config: ProviderConfig, allowlist: Allowlist) -> MetricProvider:
    from analysis.providers.prometheus import PrometheusProvider

    if (config.username is None) != (config.password is None):
        raise ValueError("basic auth needs both a username and a password")
    basic = (
        (config.username, config.password)
        if config.username is not None and config.password is not None
        else None
    )
    return PrometheusProvider(
        config.address,
        allowlist=allowlist,
        timeout=config.timeout,
        bearer_token=config.bearer_token,
        basic_auth=basic,
        verify_tls=config.verify_tls,
    )


PROVIDER_TYPES: dict[str, Callable[[ProviderConfig, Allowlist], MetricProvider]] = {
    "prometheus": _prometheus,
}


def make_provider(config: ProviderConfig, allowlist: Allowlist) -> MetricProvider:
    """A provider for ``config``; :class:`UnknownProviderType` or :class:`AddressNotAllowed` when refused."""
    factory = PROVIDER_TYPES.get(config.type)
    if factory is None:
        known = ", ".join(sorted(PROVIDER_TYPES))
        raise UnknownProviderType(f"unknown metric provider type {config.type!r}; known: {known}")
    return factory(config, allowlist)
