"""Go-style durations (``500ms``, ``30s``, ``1m``, ``1h30m``) as used by Flagger and Kubernetes."""

from __future__ import annotations

import re

_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class DurationError(ValueError):
    """The text is not a duration; the message says what is expected."""


def parse_duration(text: str) -> float:
    """Parse a Go duration such as ``1h30m`` or ``500ms`` into seconds.

    A bare ``0`` is accepted (Go accepts it too); any other number needs a unit, because ``30``
    alone is ambiguous (seconds? minutes?) and Flagger users write ``30s``.
    """
    raw = text.strip()
    if raw == "0":
        return 0.0
    if not raw:
        raise DurationError('empty; expected a duration like "30s", "1m" or "1h30m"')
    pos = 0
    total = 0.0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(raw):
        raise DurationError(
            f'"{text}" is not a duration; expected a number with a unit, like "30s", "1m" or "1h30m"'
        )
    return total


def format_duration(seconds: float) -> str:
    """Render seconds the short way people write them (``90`` -> ``1m30s``, ``0.5`` -> ``500ms``)."""
    if seconds < 1 and seconds > 0:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs or not out:
        out += f"{secs}s"
    return out
