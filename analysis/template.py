"""Render MetricTemplate queries safely: no substituted value can change the shape of the query.

Placeholders are ``{{ name }}``, ``{{ namespace }}``, ``{{ target }}``, ``{{ service }}``,
``{{ interval }}`` and ``{{ variables.X }}`` (whitespace inside the braces is optional). Rendering is
a single pass over the template, so a value containing ``{{`` is never rendered again.

Each value is checked twice:

1. **By kind** (where it comes from): ``name`` and ``target`` are DNS-1123 subdomains, ``namespace``
   and ``service`` DNS-1123 labels, ``interval`` a PromQL duration, ``variables.*`` free strings of at
   most :data:`MAX_VALUE_LENGTH` characters (numbers in the Canary are accepted and written as text).
2. **By slot** (where it lands in the query):

   - inside a ``"..."`` or ``'...'`` literal: escaped as a PromQL string literal (backslash, quote,
     newline and every non-printable character); inside a literal after ``=~``/``!~`` a Kubernetes name
     is also regex-escaped (a subdomain may hold ``.``), while free variables stay regular expressions
     by design (the shape of the query cannot change either way);
   - inside a raw ```...``` literal: refused if it holds a backtick or carriage return (raw strings have
     no escapes);
   - inside a ``#`` comment: refused if it holds a line break;
   - outside any literal ("bare"): must be a plain number, a duration or an identifier that is not a
     PromQL keyword; Kubernetes names are never allowed bare (``a-b`` would read as a subtraction),
     and a bare placeholder must not be glued to a neighbouring name or number.

Any problem raises :class:`TemplateError` naming the variable and what is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from analysis import promql

MAX_VALUE_LENGTH = 1024
FIXED_VARIABLES = ("name", "namespace", "target", "service", "interval")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_VARIABLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PLACEHOLDER_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)?)\s*")
_GLUE = re.compile(r"[A-Za-z0-9_:.]")


class TemplateError(ValueError):
    """A template or one of its values is unusable; the message names the variable and the problem."""


VariableValue = str | int | float


@dataclass(frozen=True)
class TemplateContext:
    """The values a query template may use for one canary and one metric."""

    name: str = ""
    namespace: str = ""
    target: str = ""
    service: str = ""
    interval: str = "1m"
    variables: Mapping[str, VariableValue] = field(default_factory=dict)

    def for_primary(self) -> TemplateContext:
        """The same context pointed at the primary workload (``<target>-primary``, ``<service>-primary``)."""
        return replace(
            self,
            target=f"{self.target}-primary" if self.target else "",
            service=f"{self.service}-primary" if self.service else "",
        )


@dataclass(frozen=True)
class Slot:
    """Where one placeholder sits in a template."""

    variable: str
    start: int
    end: int
    context: str  # "bare", "string", "raw", "comment"
    quote_char: str = ""
    regex: bool = False


# -- kinds -----------------------------------------------------------------------------------------


def is_dns1123_label(value: str) -> bool:
    """RFC 1123 label: lower-case alphanumerics and ``-``, at most 63 characters."""
    return len(value) <= 63 and _DNS1123_LABEL.fullmatch(value) is not None


def is_dns1123_subdomain(value: str) -> bool:
    """RFC 1123 subdomain: dot-separated labels, at most 253 characters."""
    return 0 < len(value) <= 253 and all(_DNS1123_LABEL.fullmatch(part) for part in value.split("."))


def _kind_of(variable: str) -> str:
    if variable in {"name", "target"}:
        return "subdomain"
    if variable in {"namespace", "service"}:
        return "label"
    if variable == "interval":
        return "duration"
    return "free"


def _value_text(variable: str, value: VariableValue) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TemplateError(
            f"{{{{ {variable} }}}}: value must be a string or a number, got {type(value).__name__}"
        )
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateError(f"{{{{ {variable} }}}}: value must be a finite number, got {value}")
        return repr(value)
    return str(value)


def check_kind(variable: str, value: str) -> None:
    """Validate ``value`` for ``variable`` by where it comes from; :class:`TemplateError` when invalid."""
    kind = _kind_of(variable)
    shown = value if len(value) <= 80 else value[:77] + "..."
    if kind == "subdomain" and not is_dns1123_subdomain(value):
        raise TemplateError(
            f"{{{{ {variable} }}}}: {shown!r} is not a valid Kubernetes name (DNS-1123 subdomain: lower-case "
            "alphanumerics, '-' and '.', at most 253 characters)"
        )
    if kind == "label" and not is_dns1123_label(value):
        raise TemplateError(
            f"{{{{ {variable} }}}}: {shown!r} is not a valid Kubernetes name (DNS-1123 label: lower-case "
            "alphanumerics and '-', at most 63 characters)"
        )
    if kind == "duration" and not promql.is_duration(value):
        raise TemplateError(
            f"{{{{ {variable} }}}}: {shown!r} is not a PromQL duration (expected e.g. 30s, 1m, 1h30m)"
        )
    if kind == "free" and len(value) > MAX_VALUE_LENGTH:
        raise TemplateError(
            f"{{{{ {variable} }}}}: value is {len(value)} characters long; at most {MAX_VALUE_LENGTH} allowed"
        )


# -- slots -----------------------------------------------------------------------------------------


def _placeholder_variable(inner: str, offset: int) -> str:
    match = _PLACEHOLDER_NAME.fullmatch(inner)
    if match is None:
        raise TemplateError(f"malformed placeholder {{{{{inner}}}}} at offset {offset}")
    variable = match.group(1)
    if variable in FIXED_VARIABLES or (variable.startswith("variables.") and variable.count(".") == 1):
        return variable
    raise TemplateError(
        f"unknown variable {{{{ {variable} }}}} at offset {offset}; known: "
        + ", ".join(FIXED_VARIABLES)
        + ", variables.<key>"
    )


def _preceded_by_regex_operator(template: str, quote_at: int) -> bool:
    before = template[:quote_at].rstrip()
    return before.endswith(("=~", "!~"))


def slots(template: str) -> list[Slot]:
    """Find every placeholder and the lexical context it sits in; :class:`TemplateError` if malformed."""
    placeholders = {m.start(): m for m in _PLACEHOLDER.finditer(template)}
    stray = _PLACEHOLDER.sub("", template).find("{{")
    if stray >= 0:
        raise TemplateError("'{{' without a matching '}}' in template (placeholders look like {{ target }})")
    found: list[Slot] = []
    state, quote_char, regex, string_start = "bare", "", False, 0
    i, n = 0, len(template)
    while i < n:
        match = placeholders.get(i)
        if match is not None:
            variable = _placeholder_variable(match.group(1), i)
            found.append(Slot(variable, match.start(), match.end(), state, quote_char, regex))
            i = match.end()
            continue
        char = template[i]
        if state == "bare":
            if template.startswith("}}", i) or template.startswith("{{", i):
                raise TemplateError(f"unbalanced placeholder braces at offset {i}")
            if char == "#":
                state = "comment"
            elif char in "\"'":
                state, quote_char, string_start = "string", char, i
                regex = _preceded_by_regex_operator(template, i)
            elif char == "`":
                state, quote_char, string_start = "raw", char, i
                regex = _preceded_by_regex_operator(template, i)
            i += 1
        elif state == "string":
            if char == "\\":
                if i + 1 in placeholders:
                    raise TemplateError(f"placeholder right after a backslash at offset {i + 1}")
                i += 2
                continue
            if char == "\n":
                raise TemplateError(f"line break inside the string literal starting at offset {string_start}")
            if char == quote_char:
                state, quote_char, regex = "bare", "", False
            i += 1
        elif state == "raw":
            if char == "`":
                state, quote_char, regex = "bare", "", False
            i += 1
        else:  # comment
            if char in "\r\n":
                state = "bare"
            i += 1
    if state in {"string", "raw"}:
        raise TemplateError(f"unterminated string literal starting at offset {string_start}")
    for slot in found:
        if slot.context == "bare":
            _check_bare_neighbours(template, slot)
    return found


def _check_bare_neighbours(template: str, slot: Slot) -> None:
    before = template[slot.start - 1] if slot.start > 0 else ""
    after = template[slot.end] if slot.end < len(template) else ""
    if (before and _GLUE.fullmatch(before)) or (after and _GLUE.fullmatch(after)):
        raise TemplateError(
            f"{{{{ {slot.variable} }}}} at offset {slot.start} is glued to a neighbouring name or number; "
            "separate it with an operator, bracket or space"
        )
    if _kind_of(slot.variable) in {"subdomain", "label"}:
        raise TemplateError(
            f"{{{{ {slot.variable} }}}} at offset {slot.start} is outside a string literal; Kubernetes names "
            f'belong in label matchers, e.g. pod=~"{{{{ {slot.variable} }}}}-.*"'
        )


# -- rendering -------------------------------------------------------------------------------------


def _lookup(context: TemplateContext, variable: str) -> str:
    if variable.startswith("variables."):
        key = variable.split(".", 1)[1]
        if key not in context.variables:
            known = ", ".join(sorted(context.variables)) or "none"
            raise TemplateError(f"{{{{ {variable} }}}}: no template variable {key!r} given (given: {known})")
        raw: VariableValue = context.variables[key]
    else:
        raw = getattr(context, variable)
    value = _value_text(variable, raw)
    if value == "" and _kind_of(variable) != "free":
        raise TemplateError(f"{{{{ {variable} }}}}: no value given")
    check_kind(variable, value)
    return value


def _place(slot: Slot, value: str) -> str:
    where = f"{{{{ {slot.variable} }}}}"
    if slot.context == "string":
        text = promql.regex_escape(value) if slot.regex and _kind_of(slot.variable) != "free" else value
        try:
            return promql.escape_body(text, slot.quote_char)
        except ValueError as exc:
            raise TemplateError(f"{where}: {exc}") from exc
    if slot.context == "raw":
        if "`" in value or "\r" in value:
            raise TemplateError(f"{where}: a value inside a raw `...` string cannot hold a backtick or CR")
        return promql.regex_escape(value) if slot.regex and _kind_of(slot.variable) != "free" else value
    if slot.context == "comment":
        if "\n" in value or "\r" in value:
            raise TemplateError(f"{where}: a value inside a # comment cannot hold a line break")
        return value
    if promql.is_number(value) or promql.is_duration(value) or promql.is_identifier(value):
        return value
    shown = value if len(value) <= 80 else value[:77] + "..."
    raise TemplateError(
        f"{where}: {shown!r} cannot be used outside a string literal; there it must be a plain number "
        "(0.99), a duration (5m) or a metric/label name that is not a PromQL keyword"
    )


def render(template: str, context: TemplateContext) -> str:
    """Render ``template`` with ``context``; :class:`TemplateError` on any unusable template or value."""
    pieces: list[str] = []
    cursor = 0
    for slot in slots(template):
        pieces.append(template[cursor : slot.start])
        pieces.append(_place(slot, _lookup(context, slot.variable)))
        cursor = slot.end
    pieces.append(template[cursor:])
    return "".join(pieces)


def variables_used(template: str) -> list[str]:
    """The placeholders a template uses, in order of first appearance (validates the template)."""
    seen: dict[str, None] = {}
    for slot in slots(template):
        seen.setdefault(slot.variable, None)
    return list(seen)
