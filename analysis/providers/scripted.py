"""An in-memory metric provider that answers from a script: for unit tests and fault injection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from analysis.query import QueryResult

Step = float | None | QueryResult
"""One scripted answer: a number (NaN becomes no data), ``None`` (no data) or a ready ``QueryResult``."""


class ScriptedProvider:
    """Answers queries from a script keyed by the exact query or by a fragment of it (e.g. a metric name).

    Each key holds a sequence of answers consumed one per query; the last answer repeats once the
    sequence is used up. An exact key wins over a fragment; among fragments the first key given wins.
    A query nothing matches gets an error answer naming the query. Every query is recorded in
    :attr:`queries`.
    """

    def __init__(self, script: Mapping[str, Sequence[Step]] | None = None) -> None:
        self._script: dict[str, list[Step]] = {}
        self._cursor: dict[str, int] = {}
        self.queries: list[str] = []
        for key, steps in (script or {}).items():
            self.set(key, steps)

    def set(self, key: str, steps: Sequence[Step]) -> None:
        """Replace the answers for ``key`` and restart its sequence."""
        if not steps:
            raise ValueError(f"script for {key!r} is empty; give at least one answer")
        self._script[key] = list(steps)
        self._cursor[key] = 0

    def _key_for(self, query: str) -> str | None:
        if query in self._script:
            return query
        return next((key for key in self._script if key in query), None)

    def query(self, query: str) -> QueryResult:
        """The next scripted answer for ``query``."""
        self.queries.append(query)
        key = self._key_for(query)
        if key is None:
            return QueryResult.error(f"scripted provider has no answer for query {query!r}")
        steps = self._script[key]
        index = self._cursor[key]
        self._cursor[key] = index + 1
        step = steps[min(index, len(steps) - 1)]
        if isinstance(step, QueryResult):
            return step
        if step is None:
            return QueryResult.no_data()
        return QueryResult.of(float(step))
