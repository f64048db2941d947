"""Just enough PromQL lexing to place values safely: string literals, durations, numbers, identifiers.

The template renderer uses :func:`quote` to write a value as a PromQL string literal and
:func:`regex_escape` when that literal is the right-hand side of ``=~``/``!~``. :func:`tokenize` and
:func:`unquote` follow the Prometheus lexer closely enough that tests can prove a rendered query has
the same token structure whatever the substituted values are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Units in the order Prometheus requires them (model.ParseDuration): 1h30m is valid, 30m1h is not.
DURATION_UNITS = ("y", "w", "d", "h", "m", "s", "ms")
_DURATION_PART = re.compile(r"([0-9]+)(ms|[ywdhms])")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|[ywdhms]))+")
NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LEXED_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?")

# Words the PromQL lexer treats specially; a bare value equal to one of them would change the query.
KEYWORDS = frozenset(
    {
        "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right",
        "offset", "bool", "start", "end", "inf", "nan",
    }
)  # fmt: skip

_DIGITS = frozenset("0123456789")
_REGEX_META = set("\\.+*?()|[]{}^$")
_SIMPLE_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\a": "\\a", "\b": "\\b", "\f": "\\f",
                   "\v": "\\v"}  # fmt: skip
_UNESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
              '"': '"', "'": "'"}  # fmt: skip


class PromQLSyntaxError(ValueError):
    """The text is not lexically valid PromQL (unterminated string, bad escape, stray character)."""


def is_duration(text: str) -> bool:
    """True for a PromQL duration such as ``30s``, ``1m``, ``1h30m``, ``500ms`` (units in order, not 0)."""
    if not _DURATION.fullmatch(text):
        return False
    order = [DURATION_UNITS.index(unit) for _, unit in _DURATION_PART.findall(text)]
    if order != sorted(set(order)):
        return False
    return any(int(amount) > 0 for amount, _ in _DURATION_PART.findall(text))


def duration_seconds(text: str) -> float:
    """Seconds in a PromQL duration; ``ValueError`` when ``text`` is not one."""
    if not is_duration(text):
        raise ValueError(f"not a PromQL duration: {text!r} (expected e.g. 30s, 1m, 1h30m)")
    factors = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return float(sum(int(amount) * factors[unit] for amount, unit in _DURATION_PART.findall(text)))


def is_number(text: str) -> bool:
    """True for a plain non-negative decimal number (``0.99``, ``500``, ``1e3``); no hex, Inf or NaN."""
    return NUMBER.fullmatch(text) is not None


def is_identifier(text: str) -> bool:
    """True for a metric or label name that is not a PromQL keyword."""
    return IDENTIFIER.fullmatch(text) is not None and text.lower() not in KEYWORDS


def regex_escape(value: str) -> str:
    """Escape RE2 metacharacters so ``value`` matches only itself inside a ``=~`` matcher."""
    return "".join("\\" + char if char in _REGEX_META else char for char in value)


def quote(value: str, quote_char: str = '"') -> str:
    """``value`` as a PromQL string literal delimited by ``quote_char`` (``"`` or ``'``).

    Backslashes, the delimiter and every non-printable character are escaped, so the literal always
    ends exactly where it should. Lone surrogates cannot be encoded and raise ``ValueError``.
    """
    if quote_char not in {'"', "'"}:
        raise ValueError(f"quote_char must be ' or \", got {quote_char!r}")
    return quote_char + escape_body(value, quote_char) + quote_char


def escape_body(value: str, quote_char: str) -> str:
    """The inside of a PromQL string literal for ``value`` (see :func:`quote`)."""
    out: list[str] = []
    for char in value:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"lone surrogate U+{code:04X} cannot appear in a query")
        if char == quote_char:
            out.append("\\" + char)
        elif char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif not char.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def unquote(literal: str) -> str:
    """The value of a PromQL string literal (``"..."``, ``'...'`` or a raw backtick string)."""
    if len(literal) < 2 or literal[0] != literal[-1] or literal[0] not in "\"'`":
        raise PromQLSyntaxError(f"not a string literal: {literal!r}")
    body, delimiter = literal[1:-1], literal[0]
    if delimiter == "`":
        if "`" in body:
            raise PromQLSyntaxError("backtick inside a raw string")
        return body.replace("\r", "")
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char in (delimiter, "\n"):
            raise PromQLSyntaxError(f"unescaped {char!r} inside a string literal at offset {i + 1}")
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(body):
            raise PromQLSyntaxError("string literal ends with a lone backslash")
        code = body[i + 1]
        if code in _UNESCAPES:
            out.append(_UNESCAPES[code])
            i += 2
        elif code in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[code]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise PromQLSyntaxError(f"bad \\{code} escape in string literal")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif code in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise PromQLSyntaxError("bad octal escape in string literal")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise PromQLSyntaxError(f"unknown escape \\{code} in string literal")
    return "".join(out)


@dataclass(frozen=True)
class Token:
    """One lexical token: ``kind`` is string, number, duration, identifier, operator, comment."""

    kind: str
    text: str
    start: int


_OPERATORS = ("=~", "!~", "!=", "==", "<=", ">=", "{", "}", "(", ")", "[", "]", ",", "=", "<", ">", "+", "-",
              "*", "/", "%", "^", "@", ":")  # fmt: skip


def tokenize(query: str) -> list[Token]:
    """Split a PromQL query into tokens (whitespace dropped); :class:`PromQLSyntaxError` on bad lexemes."""
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char in " \t\n\r":
            i += 1
        elif char == "#":
            end = i
            while end < n and query[end] not in "\r\n":
                end += 1
            tokens.append(Token("comment", query[i:end], i))
            i = end
        elif char in "\"'`":
            end = _string_end(query, i)
            literal = query[i : end + 1]
            unquote(literal)  # validates escapes
            tokens.append(Token("string", literal, i))
            i = end + 1
        elif char in _DIGITS or (char == "." and i + 1 < n and query[i + 1] in _DIGITS):
            duration = _DURATION.match(query, i)
            number = _LEXED_NUMBER.match(query, i)
            if duration and (number is None or duration.end() > number.end()):
                tokens.append(Token("duration", duration.group(), i))
                i = duration.end()
            elif number:
                tokens.append(Token("number", number.group(), i))
                i = number.end()
            else:  # pragma: no cover - the first character is a digit, so one of the two matches
                raise PromQLSyntaxError(f"bad number at offset {i}")
        elif IDENTIFIER.match(query, i):
            match = IDENTIFIER.match(query, i)
            assert match is not None
            tokens.append(Token("identifier", match.group(), i))
            i = match.end()
        else:
            for operator in _OPERATORS:
                if query.startswith(operator, i):
                    tokens.append(Token("operator", operator, i))
                    i += len(operator)
                    break
            else:
                raise PromQLSyntaxError(f"unexpected character {char!r} at offset {i}")
    return tokens


def _string_end(query: str, start: int) -> int:
    delimiter = query[start]
    i = start + 1
    while i < len(query):
        char = query[i]
        if delimiter != "`" and char == "\\":
            i += 2
            continue
        if char == delimiter:
            return i
        if char == "\n" and delimiter != "`":
            break
        i += 1
    raise PromQLSyntaxError(f"unterminated string literal starting at offset {start}")


def structure(query: str) -> list[tuple[str, str]]:
    """The shape of a query: token kinds with operator/identifier texts; literal contents elided.

    Two renderings of one template have the same structure exactly when no substituted value
    escaped its slot.
    """
    shape: list[tuple[str, str]] = []
    for token in tokenize(query):
        if token.kind in {"string", "comment", "number", "duration"}:
            shape.append((token.kind, ""))
        else:
            shape.append((token.kind, token.text))
    return shape
