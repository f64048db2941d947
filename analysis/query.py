"""The port between analysis and metric servers: a query in, a value / no data / error out.

Pure: providers (``analysis.providers``) implement :class:`MetricProvider`; :class:`Tick` wraps
them for one check so that identical queries are sent once.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class Outcome(enum.StrEnum):
    """What a query produced."""

    VALUE = "VALUE"
    NO_DATA = "NO_DATA"
    ERROR = "ERROR"


@dataclass(frozen=True)
class QueryResult:
    """A value, a no-data marker (with the reason) or an error (with the message). Never an exception."""

    outcome: Outcome
    value: float | None = None
    message: str = ""

    @classmethod
    def of(cls, value: float) -> QueryResult:
        """A value; NaN becomes no data (a ratio of zero requests is not a measurement)."""
        if math.isnan(value):
            return cls(Outcome.NO_DATA, None, "value is NaN")
        return cls(Outcome.VALUE, value)

    @classmethod
    def no_data(cls, message: str = "no data") -> QueryResult:
        """The query ran and matched nothing (empty vector, NaN)."""
        return cls(Outcome.NO_DATA, None, message)

    @classmethod
    def error(cls, message: str) -> QueryResult:
        """The query could not be answered (unreachable, timeout, bad query, several series)."""
        return cls(Outcome.ERROR, None, message)


class MetricProvider(Protocol):
    """Answers one instant query. Provider faults come back as :meth:`QueryResult.error`, never raised."""

    def query(self, query: str) -> QueryResult:
        """Run ``query`` at "now" and return its single value, no data, or an error."""
        ...


class Tick:
    """One check's view of the metric providers: identical queries to one provider are sent once.

    Create a new ``Tick`` for every check; results are never reused across checks.
    """

    def __init__(self, providers: Mapping[str, MetricProvider]) -> None:
        self._providers = dict(providers)
        self._answers: dict[tuple[str, str], QueryResult] = {}
        self.sent = 0

    def query(self, provider: str, query: str) -> QueryResult:
        """Ask ``provider`` (a key of the mapping given at creation) once per distinct query."""
        key = (provider, query)
        if key in self._answers:
            return self._answers[key]
        source = self._providers.get(provider)
        if source is None:
            known = ", ".join(sorted(self._providers)) or "none"
            result = QueryResult.error(f"no metric provider {provider!r} is configured (configured: {known})")
        else:
            self.sent += 1
            result = source.query(query)
        self._answers[key] = result
        return result
