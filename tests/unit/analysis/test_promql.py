"""Pins the PromQL lexing helpers: literal quoting round-trips, durations, and tokenization."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis import promql


@given(st.text(st.characters(exclude_categories=["Cs"])), st.sampled_from(['"', "'"]))
def test_quote_round_trips_and_is_one_token(value: str, quote_char: str) -> None:
    literal = promql.quote(value, quote_char)
    assert promql.unquote(literal) == value
    tokens = promql.tokenize(literal)
    assert [t.kind for t in tokens] == ["string"]
    assert "\n" not in literal


@pytest.mark.parametrize(
    ("value", "literal"),
    [('a"b', '"a\\"b"'), ("a\\b", '"a\\\\b"'), ("a\nb", '"a\\nb"'), ("\x00", '"\\u0000"'), ("ü", '"ü"')],
)
def test_quote_examples(value: str, literal: str) -> None:
    assert promql.quote(value) == literal


@pytest.mark.parametrize("bad", ['"abc', '"a\\qb"', '"a\\x1"', "'a", '"a\nb"'])
def test_lexer_rejects_broken_literals(bad: str) -> None:
    with pytest.raises(promql.PromQLSyntaxError):
        promql.tokenize(bad)


@pytest.mark.parametrize(("text", "seconds"), [("1m", 60), ("1h30m", 5400), ("500ms", 0.5), ("1d", 86400)])
def test_duration_seconds(text: str, seconds: float) -> None:
    assert promql.duration_seconds(text) == seconds


def test_duration_seconds_rejects_non_durations() -> None:
    with pytest.raises(ValueError, match="not a PromQL duration"):
        promql.duration_seconds("30s1m")


def test_tokenize_kinds() -> None:
    tokens = promql.tokenize('sum(rate(x{a=~"b"}[5m] offset 1h)) by (le) > 0.5 # note')
    assert [t.kind for t in tokens] == [
        "identifier", "operator", "identifier", "operator", "identifier", "operator", "identifier",
        "operator", "string", "operator", "operator", "duration", "operator", "identifier", "duration",
        "operator", "operator", "identifier", "operator", "identifier", "operator", "operator", "number",
        "comment",
    ]  # fmt: skip


def test_regex_escape_matches_itself_only() -> None:
    import re

    value = "a.b+c*(d)[e]{f}|g^h$i?j\\k"
    assert re.fullmatch(promql.regex_escape(value), value)
    assert not re.fullmatch(promql.regex_escape("a.b"), "axb")
