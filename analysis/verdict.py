"""Verdicts are values: the outcome of one metric check, never an exception."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.StrEnum):
    """The outcome of one metric check.

    ``INCONCLUSIVE`` (no data, NaN, too few requests) and ``ERROR`` (provider unreachable, timeout,
    malformed answer) hold the canary's weight and never count as failures: missing data is not bad data.
    """

    PASS = "PASS"  # noqa: S105 (a verdict, not a password)
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Range:
    """An inclusive acceptable range; either bound may be absent."""

    min: float | None = None
    max: float | None = None

    def contains(self, value: float) -> bool:
        """True when ``value`` lies within the inclusive bounds."""
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)

    def describe(self) -> str:
        """Human-readable form, e.g. ``>= 99`` or ``0..500``."""
        if self.min is not None and self.max is not None:
            return f"{self.min:g}..{self.max:g}"
        if self.min is not None:
            return f">= {self.min:g}"
        if self.max is not None:
            return f"<= {self.max:g}"
        return "any"

    def to_dict(self) -> dict[str, float]:
        """The ``{min, max}`` form used in the Canary's status."""
        out: dict[str, float] = {}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out


@dataclass(frozen=True)
class CheckResult:
    """One metric evaluated at one step: what was asked, what came back, and what it means."""

    metric: str
    verdict: Verdict
    value: float | None = None
    range: Range = Range()
    query: str = ""
    message: str = ""

    def to_status(self, time: str) -> dict[str, object]:
        """The entry written to ``status.checks`` (bounded history explaining each decision)."""
        entry: dict[str, object] = {
            "time": time,
            "metric": self.metric,
            "query": self.query,
            "range": self.range.to_dict(),
            "verdict": self.verdict.value,
        }
        if self.value is not None:
            entry["value"] = self.value
        if self.message:
            entry["message"] = self.message
        return entry
