"""Pins template rendering: placeholders, validation by kind and slot, and that no value changes the query.

Shape stability is proven two ways for every adversarial value: the rendered query has the same token
structure as the query rendered with a harmless placeholder value, and the string literal the value
landed in decodes back to exactly the value (or its regex-escaped form for names after ``=~``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import promql
from analysis.template import (
    MAX_VALUE_LENGTH,
    TemplateContext,
    TemplateError,
    render,
    slots,
    variables_used,
)

CTX = TemplateContext(name="podinfo", namespace="shop", target="podinfo", service="podinfo", interval="1m")

DESIGN_TEMPLATE = (
    "histogram_quantile({{ variables.quantile }},\n"
    '  sum(rate(http_request_duration_seconds_bucket{namespace="{{ namespace }}",'
    'pod=~"{{ target }}-[0-9a-z]+-[0-9a-z]+"}[{{ interval }}])) by (le)) * 1000'
)


def ctx(**variables: Any) -> TemplateContext:
    return TemplateContext(
        name=CTX.name, namespace=CTX.namespace, target=CTX.target, service=CTX.service,
        interval=CTX.interval, variables=variables,
    )  # fmt: skip


# -- rendering -------------------------------------------------------------------------------------


def test_design_example_renders() -> None:
    out = render(DESIGN_TEMPLATE, ctx(quantile="0.99"))
    assert out == (
        "histogram_quantile(0.99,\n"
        '  sum(rate(http_request_duration_seconds_bucket{namespace="shop",'
        'pod=~"podinfo-[0-9a-z]+-[0-9a-z]+"}[1m])) by (le)) * 1000'
    )


@pytest.mark.parametrize("spelling", ["{{target}}", "{{ target }}", "{{  target\t}}", "{{\ntarget\n}}"])
def test_whitespace_inside_braces_is_optional(spelling: str) -> None:
    assert render(f'up{{pod="{spelling}"}}', CTX) == 'up{pod="podinfo"}'


def test_every_fixed_variable() -> None:
    template = 'x{a="{{ name }}",b="{{ namespace }}",c="{{ target }}",d="{{ service }}"}[{{ interval }}]'
    context = TemplateContext(name="can", namespace="ns", target="tgt", service="svc", interval="5m")
    assert render(template, context) == 'x{a="can",b="ns",c="tgt",d="svc"}[5m]'


def test_numbers_in_variables_are_written_as_text() -> None:
    assert render("q({{ variables.q }})", ctx(q=0.99)) == "q(0.99)"
    assert render("q({{ variables.q }})", ctx(q=3)) == "q(3)"


@pytest.mark.parametrize("value", [True, None, float("nan"), float("inf"), ["a"]])
def test_non_scalar_or_non_finite_variables_are_refused(value: Any) -> None:
    with pytest.raises(TemplateError, match=r"variables\.q"):
        render('x{a="{{ variables.q }}"}', ctx(q=value))


def test_names_after_regex_operator_are_regex_escaped() -> None:
    context = TemplateContext(namespace="shop", target="my.app", interval="1m")
    assert render('x{pod=~"{{ target }}-.*"}', context) == 'x{pod=~"my\\\\.app-.*"}'
    assert render('x{pod!~ "{{ target }}"}', context) == 'x{pod!~ "my\\\\.app"}'
    assert render('x{pod="{{ target }}"}', context) == 'x{pod="my.app"}'  # plain equality: no regex escape


def test_free_variables_after_regex_operator_stay_regular_expressions() -> None:
    assert render('x{code=~"{{ variables.codes }}"}', ctx(codes="5..")) == 'x{code=~"5.."}'


def test_single_quoted_and_raw_literals() -> None:
    assert render("x{a='{{ variables.v }}'}", ctx(v="it's")) == "x{a='it\\'s'}"
    assert render("x{a=`{{ variables.v }}`}", ctx(v='say "hi" \\ ok')) == 'x{a=`say "hi" \\ ok`}'
    with pytest.raises(TemplateError, match="raw"):
        render("x{a=`{{ variables.v }}`}", ctx(v="a`b"))


def test_comment_slots_refuse_line_breaks() -> None:
    assert render("up # for {{ variables.v }}\n", ctx(v="me")) == "up # for me\n"
    with pytest.raises(TemplateError, match="comment"):
        render("up # for {{ variables.v }}\n", ctx(v="x\nor vector(1)"))


def test_values_are_not_rendered_twice() -> None:
    out = render('x{a="{{ variables.v }}"}', ctx(v="{{ target }}"))
    assert out == 'x{a="{{ target }}"}'


def test_variables_used_lists_placeholders_in_order() -> None:
    assert variables_used(DESIGN_TEMPLATE) == ["variables.quantile", "namespace", "target", "interval"]


# -- errors ----------------------------------------------------------------------------------------

TEMPLATE_ERRORS = [
    ('x{a="{{ foo }}"}', "unknown variable {{ foo }}"),
    ('x{a="{{ variables }}"}', "unknown variable"),
    ('x{a="{{ variables.a.b }}"}', "malformed placeholder"),
    ('x{a="{{ target }"}', "without a matching"),
    ('x{a="{{ target }}"} {{', "without a matching"),
    ('x{a="{{ target | upper }}"}', "malformed placeholder"),
    ('x{a="{{ }}"}', "malformed placeholder"),
    ('x{a="{{ target }}}', "unterminated string"),
    ("x{a='{{ target }}}", "unterminated string"),
    ('x{a="\\{{ target }}"}', "backslash"),
    ('x{a="b\n{{ target }}"}', "line break"),
    ("sum(x{{ variables.v }})", "glued"),
    ("x_{{ variables.v }}", "glued"),
    ("{{ variables.v }}_total", "glued"),
    ("1{{ variables.v }}", "glued"),
    ("sum({{ target }})", "outside a string literal"),
    ("x / {{ namespace }}", "outside a string literal"),
]


@pytest.mark.parametrize(("template", "message"), TEMPLATE_ERRORS)
def test_bad_templates_are_refused_with_a_clear_message(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("|", r"\|")):
        render(template, ctx(v="1"))


def test_unknown_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(TemplateError, match=r"unknown variable \{\{ foo \}\}.*known: name, namespace"):
        render('x{a="{{ foo }}"}', CTX)


def test_missing_template_variable_names_it_and_the_given_ones() -> None:
    with pytest.raises(TemplateError, match=r"no template variable 'quantile' given \(given: other\)"):
        render("q({{ variables.quantile }})", ctx(other="1"))


@pytest.mark.parametrize("field", ["name", "namespace", "target", "service"])
def test_missing_fixed_variable_is_an_error(field: str) -> None:
    context = TemplateContext(**{k: v for k, v in vars(CTX).items() if k != field})
    with pytest.raises(TemplateError, match=rf"\{{\{{ {field} \}}\}}: no value given"):
        render(f'x{{a="{{{{ {field} }}}}"}}', context)


KIND_ERRORS = [
    ("namespace", "Shop"),
    ("namespace", "shop.prod"),  # a namespace is a label: no dots
    ("namespace", "a" * 64),
    ("namespace", "-shop"),
    ("namespace", 'shop"}'),
    ("service", "svc_1"),
    ("target", "pod info"),
    ("target", "podinfo."),
    ("target", "a" * 254),
    ("name", "Canary"),
    ("target", 'x"} or vector(1) #'),
]


@pytest.mark.parametrize(("field", "value"), KIND_ERRORS)
def test_kubernetes_names_are_validated(field: str, value: str) -> None:
    context = TemplateContext(**{**vars(CTX), field: value})
    with pytest.raises(TemplateError, match=rf"\{{\{{ {field} \}}\}}: .* is not a valid Kubernetes name"):
        render(f'x{{a="{{{{ {field} }}}}"}}', context)


@pytest.mark.parametrize(
    "interval", ["1", "m", "1m30", "30s1m", "1.5m", "0s", "1m) or vector(1", "-1m", "1M"]
)
def test_interval_must_be_a_promql_duration(interval: str) -> None:
    context = TemplateContext(**{**vars(CTX), "interval": interval})
    with pytest.raises(TemplateError, match=r"\{\{ interval \}\}: .* is not a PromQL duration"):
        render("rate(x[{{ interval }}])", context)


@pytest.mark.parametrize("interval", ["1m", "30s", "1h30m", "500ms", "2d", "1w", "1y", "1h0m"])
def test_valid_intervals(interval: str) -> None:
    context = TemplateContext(**{**vars(CTX), "interval": interval})
    assert render("rate(x[{{ interval }}])", context) == f"rate(x[{interval}])"


def test_extremely_long_values_are_refused() -> None:
    with pytest.raises(TemplateError, match=f"at most {MAX_VALUE_LENGTH}"):
        render('x{a="{{ variables.v }}"}', ctx(v="a" * (MAX_VALUE_LENGTH + 1)))
    assert render('x{k="{{ variables.v }}"}', ctx(v="a" * MAX_VALUE_LENGTH)).count("a") == MAX_VALUE_LENGTH


BARE_REFUSED = [
    ") or vector(1",
    "1) or vector(1)",
    "0.99, x",
    "or",
    "and",
    "unless",
    "offset",
    "bool",
    "by",
    "Inf",
    "NaN",
    "-1",
    "0x1f",
    "1 + 1",
    "",
    "a b",
    'x{a="b"}',
    "1e",
    "{{ target }}",
    "\n1",
    "\uff11",  # a full-width digit is not a PromQL digit
]


@pytest.mark.parametrize("value", BARE_REFUSED)
def test_bare_slots_take_only_numbers_durations_and_names(value: str) -> None:
    with pytest.raises(
        TemplateError, match=r"\{\{ variables\.v \}\}: .*cannot be used outside a string literal"
    ):
        render("histogram_quantile({{ variables.v }}, x)", ctx(v=value))


@pytest.mark.parametrize("value", ["0.99", "1", "1e3", "1.5E-3", "5m", "1h30m", "my_metric", "job:rate5m"])
def test_bare_slots_accept_plain_tokens(value: str) -> None:
    out = render("f({{ variables.v }}, x)", ctx(v=value))
    assert out == f"f({value}, x)"
    assert promql.structure(out)[2][0] in {"number", "duration", "identifier"}


# -- adversarial values inside literals: shape stability --------------------------------------------

ADVERSARIAL = [
    '"',
    '"}',
    '"} or vector(1) #',
    '") or vector(1)',
    ") or vector(1)",
    "'",
    "'} or vector(1)",
    "\\",
    "\\\\",
    '\\"',
    "\\'",
    'x\\"} or vector(1) or x{a="',
    "\n",
    "a\nb",
    "\r\n",
    "\t",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\u2028",
    "\u200b",
    "\ufeff",
    "ü€😀",
    "\U0001d518\U0001d52b",  # mathematical letters
    "{{ target }}",
    "{{",
    "}}",
    "`",
    "# comment",
    "a" * MAX_VALUE_LENGTH,
    '"' * 200,
    "\\" * 200,
    "",
    " ",
    "5..",
    ".*",
    "]",
    "}[5m]",
    "=~",
]

TEMPLATES_WITH_STRING_SLOT = [
    'x{a="{{ variables.v }}"}',
    "x{a='{{ variables.v }}'}",
    'x{a=~"{{ variables.v }}"}',
    'x{a!~"pre-{{ variables.v }}-post"}',
    'label_replace(x, "dst", "{{ variables.v }}", "src", "(.*)")',
    'sum(rate(x{a="{{ variables.v }}", b="{{ variables.v }}"}[{{ interval }}])) by (le)',
]


def _string_tokens(query: str) -> list[str]:
    return [promql.unquote(token.text) for token in promql.tokenize(query) if token.kind == "string"]


@pytest.mark.parametrize("template", TEMPLATES_WITH_STRING_SLOT)
@pytest.mark.parametrize("value", ADVERSARIAL, ids=[repr(v)[:30] for v in ADVERSARIAL])
def test_adversarial_values_cannot_change_the_query_shape(template: str, value: str) -> None:
    benign = render(template, ctx(v="placeholder"))
    hostile = render(template, ctx(v=value))
    assert promql.structure(hostile) == promql.structure(benign)
    expected = [s.replace("placeholder", value) for s in _string_tokens(benign)]
    assert _string_tokens(hostile) == expected


@pytest.mark.parametrize("value", ["\ud800", "a\udfffb"])
def test_lone_surrogates_are_refused(value: str) -> None:
    with pytest.raises(TemplateError, match="surrogate"):
        render('x{a="{{ variables.v }}"}', ctx(v=value))


@settings(max_examples=300, deadline=None)
@given(
    value=st.text(st.characters(exclude_categories=["Cs"]), max_size=60),
    template=st.sampled_from(TEMPLATES_WITH_STRING_SLOT),
)
def test_any_text_in_a_string_slot_keeps_the_shape(value: str, template: str) -> None:
    benign = render(template, ctx(v="placeholder"))
    hostile = render(template, ctx(v=value))
    assert promql.structure(hostile) == promql.structure(benign)
    assert _string_tokens(hostile) == [s.replace("placeholder", value) for s in _string_tokens(benign)]


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=30))
def test_any_text_in_a_bare_slot_is_one_plain_token_or_refused(value: str) -> None:
    template = "histogram_quantile({{ variables.v }}, x)"
    try:
        out = render(template, ctx(v=value))
    except TemplateError:
        return
    shape = promql.structure(out)
    benign = promql.structure(render(template, ctx(v="0.5")))
    assert len(shape) == len(benign)
    assert shape[2][0] in {"number", "duration", "identifier"}
    assert [s for i, s in enumerate(shape) if i != 2] == [s for i, s in enumerate(benign) if i != 2]


@settings(max_examples=200, deadline=None)
@given(name=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z0-9]{1,5}){0,2}", fullmatch=True))
def test_any_valid_name_after_regex_operator_matches_only_itself(name: str) -> None:
    import re

    context = TemplateContext(**{**vars(CTX), "target": name})
    out = render('x{pod=~"{{ target }}"}', context)
    (pattern,) = _string_tokens(out)
    assert re.fullmatch(pattern, name)
    if "." in name:
        assert not re.fullmatch(pattern, name.replace(".", "x"))


def test_slots_report_context() -> None:
    found = slots("a{b=\"{{ target }}\", c=~'{{ name }}'}[{{ interval }}] # {{ variables.x }}")
    assert [(s.variable, s.context, s.quote_char, s.regex) for s in found] == [
        ("target", "string", '"', False),
        ("name", "string", "'", True),
        ("interval", "bare", "", False),
        ("variables.x", "comment", "", False),
    ]


def test_for_primary_points_at_the_primary_workload() -> None:
    primary = CTX.for_primary()
    assert (primary.target, primary.service, primary.namespace) == (
        "podinfo-primary",
        "podinfo-primary",
        "shop",
    )
