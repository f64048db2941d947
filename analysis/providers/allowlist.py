"""Which metric server addresses the operator may query: checked before any request is made."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


class AddressNotAllowed(ValueError):
    """The address is malformed or outside the allowlist."""


class Allowlist:
    """Allowed metric server addresses.

    Each entry is either a URL prefix (``http://prometheus.monitoring:9090`` or ``https://thanos/api``),
    matched on a path boundary, or a bare host (``prometheus.monitoring``) or ``host:port``, matched
    exactly (case-insensitive). ``*`` allows every http(s) address. An empty list allows none.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(entry.strip() for entry in entries if entry.strip())

    @classmethod
    def any(cls) -> Allowlist:
        """An allowlist that accepts every http(s) address (for tests and the sandbox)."""
        return cls(["*"])

    def check(self, address: str) -> str:
        """Return the normalised address (no trailing ``/``) or raise :class:`AddressNotAllowed`."""
        parts = urlsplit(address)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise AddressNotAllowed(f"metric provider address {address!r} must be an http:// or https:// URL")
        if parts.username is not None or parts.password is not None:
            raise AddressNotAllowed(
                f"metric provider address {address!r} must not carry credentials (use secretRef)"
            )
        if parts.query or parts.fragment:
            raise AddressNotAllowed(f"metric provider address {address!r} must not have a query or fragment")
        try:
            port = parts.port
        except ValueError:
            raise AddressNotAllowed(f"metric provider address {address!r} has an invalid port") from None
        normalised = address.rstrip("/")
        for entry in self.entries:
            if entry == "*" or self._matches(entry, normalised, parts.hostname, port):
                return normalised
        allowed = ", ".join(self.entries) if self.entries else "nothing (the allowlist is empty)"
        raise AddressNotAllowed(
            f"metric provider address {address!r} is not in the allowlist; allowed: {allowed}"
        )

    @staticmethod
    def _matches(entry: str, address: str, host: str, port: int | None) -> bool:
        if "://" in entry:
            prefix = entry.rstrip("/")
            return address.lower() == prefix.lower() or address.lower().startswith(prefix.lower() + "/")
        entry_host, _, entry_port = entry.lower().partition(":")
        if entry_host != host.lower():
            return False
        return not entry_port or (port is not None and entry_port == str(port))

    def allows(self, address: str) -> bool:
        """True when :meth:`check` would accept ``address``."""
        try:
            self.check(address)
        except AddressNotAllowed:
            return False
        return True
