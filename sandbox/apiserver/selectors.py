"""Label and field selectors with the syntax of `labels.Parse` and `fields.ParseSelector`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.apiserver.errors import bad_request

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    """One label requirement: `key op values`."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a label set satisfies this requirement."""
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" match objects without the label, as in Kubernetes.
        return not present or labels[self.key] not in self.values


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _check_key(key: str, selector: str) -> str:
    if not _KEY.match(key):
        raise bad_request(f'unable to parse requirement: invalid label key "{key}" in selector "{selector}"')
    return key


def parse_labels(selector: str) -> list[Requirement]:
    """Parse a label selector; 400 BadRequest on bad syntax."""
    reqs = []
    for part in _split_top(selector):
        m = re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", part)
        if m:
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(_check_key(m.group(1), selector), m.group(2), values))
            continue
        m = re.match(r"^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$", part)
        if m:
            op = "=" if m.group(2) in ("=", "==") else "!="
            reqs.append(Requirement(_check_key(m.group(1), selector), op, (m.group(3),)))
            continue
        if part.startswith("!"):
            reqs.append(Requirement(_check_key(part[1:].strip(), selector), "!exists"))
            continue
        if " " not in part:
            reqs.append(Requirement(_check_key(part, selector), "exists"))
            continue
        raise bad_request(f'unable to parse requirement: "{part}" in label selector "{selector}"')
    return reqs


def selector_from_match(match: dict[str, Any]) -> list[Requirement]:
    """A `LabelSelector` object (matchLabels/matchExpressions) as requirements."""
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (match.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in match.get("matchExpressions") or []:
        reqs.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return reqs


def match_string(match: dict[str, Any]) -> str:
    """A `LabelSelector` object in selector syntax (`Scale.status.selector`)."""
    parts = [f"{k}={v}" for k, v in sorted((match.get("matchLabels") or {}).items())]
    for expr in match.get("matchExpressions") or []:
        op = expr["operator"]
        if op == "Exists":
            parts.append(expr["key"])
        elif op == "DoesNotExist":
            parts.append("!" + expr["key"])
        else:
            parts.append(f"{expr['key']} {op.lower()} ({','.join(expr.get('values') or [])})")
    return ",".join(parts)


def _field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_fields(selector: str) -> Callable[[dict[str, Any]], bool]:
    """Parse a field selector (`a.b=x,c!=y`) into a predicate on objects."""
    terms: list[tuple[str, bool, str]] = []
    for part in _split_top(selector):
        m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$", part)
        if not m:
            raise bad_request(f'invalid field selector: "{part}" in "{selector}"')
        terms.append((m.group(1), m.group(2) != "!=", m.group(3)))

    def predicate(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) == eq for path, eq, value in terms)

    return predicate


def label_predicate(selector: str | None, field_selector: str | None) -> Callable[[dict[str, Any]], bool]:
    """One predicate for both selectors of a list or watch request."""
    reqs = parse_labels(selector) if selector else []
    fields = parse_fields(field_selector) if field_selector else None

    def predicate(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if not all(r.matches(labels) for r in reqs):
            return False
        return fields is None or fields(obj)

    return predicate
