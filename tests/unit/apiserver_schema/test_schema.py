"""The structural-schema validator behaves like kube-apiserver, keyword by keyword.

Each test pins one behaviour of pruning, defaulting or validation, with the field path, the
StatusCause reason and the error body the API server would return for it.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.apiserver import schema as S


def root(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def errors_of(schema: dict[str, Any], obj: Any) -> list[tuple[str, str, str]]:
    return [(e.field, e.reason, e.message) for e in S.validate(schema, obj)]


# --- types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "value", "actual"),
    [
        ("string", 1, "integer"),
        ("integer", "1", "string"),
        ("integer", True, "boolean"),
        ("number", "x", "string"),
        ("boolean", 0, "integer"),
        ("object", [], "array"),
        ("array", {}, "object"),
        ("string", None, "null"),
    ],
)
def test_type_mismatch_is_type_invalid(declared: str, value: Any, actual: str) -> None:
    assert errors_of(root(x={"type": declared}), {"x": value}) == [
        ("x", S.TYPE_INVALID, f'Invalid value: "{actual}": x in body must be of type {declared}: "{actual}"')
    ]


@pytest.mark.parametrize(("declared", "value"), [("integer", 3.0), ("number", 3), ("number", 2.5)])
def test_numbers_that_the_api_server_accepts(declared: str, value: Any) -> None:
    assert errors_of(root(x={"type": declared}), {"x": value}) == []


def test_nullable_allows_null() -> None:
    assert errors_of(root(x={"type": "string", "nullable": True}), {"x": None}) == []


def test_int_or_string() -> None:
    schema = root(port={"x-kubernetes-int-or-string": True})
    assert errors_of(schema, {"port": 80}) == []
    assert errors_of(schema, {"port": "http"}) == []
    assert errors_of(schema, {"port": 1.5}) == [
        (
            "port",
            S.TYPE_INVALID,
            'Invalid value: "number": port in body must be of type integer,string: "number"',
        )
    ]


# --- value keywords ------------------------------------------------------------------------------


def test_enum_lists_supported_values() -> None:
    schema = root(mode={"type": "string", "enum": ["a", "b"]}, level={"type": "integer", "enum": [1, 2]})
    assert errors_of(schema, {"mode": "c", "level": 3}) == [
        ("mode", S.NOT_SUPPORTED, 'Unsupported value: "c": supported values: "a", "b"'),
        ("level", S.NOT_SUPPORTED, 'Unsupported value: 3: supported values: "1", "2"'),
    ]
    assert errors_of(schema, {"mode": "a", "level": 2.0}) == []


def test_required_paths_are_relative_to_the_object() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["spec"],
        "properties": {"spec": root(a={"type": "string"})},
    }
    schema["properties"]["spec"]["required"] = ["a"]
    assert errors_of(schema, {}) == [("spec", S.REQUIRED, "Required value")]
    assert errors_of(schema, {"spec": {}}) == [("spec.a", S.REQUIRED, "Required value")]
    assert errors_of(schema, {"spec": {"a": "x"}}) == []


@pytest.mark.parametrize(
    ("keywords", "value", "message"),
    [
        ({"minimum": 1}, 0, "Invalid value: 0: n in body should be greater than or equal to 1"),
        ({"minimum": 1, "exclusiveMinimum": True}, 1, "Invalid value: 1: n in body should be greater than 1"),
        ({"maximum": 10}, 11, "Invalid value: 11: n in body should be less than or equal to 10"),
        (
            {"maximum": 10, "exclusiveMaximum": True},
            10,
            "Invalid value: 10: n in body should be less than 10",
        ),
        ({"maximum": 0.5}, 0.75, "Invalid value: 0.75: n in body should be less than or equal to 0.5"),
        ({"maximum": 1e6}, 2e6, "Invalid value: 2e+06: n in body should be less than or equal to 1e+06"),
        ({"multipleOf": 5}, 12, "Invalid value: 12: n in body should be a multiple of 5"),
    ],
)
def test_number_bounds(keywords: dict[str, Any], value: Any, message: str) -> None:
    schema = root(n={"type": "number", **keywords})
    assert errors_of(schema, {"n": value}) == [("n", S.INVALID, message)]


def test_number_bounds_hold_at_the_edge() -> None:
    schema = root(n={"type": "integer", "minimum": 1, "maximum": 10, "multipleOf": 5})
    assert errors_of(schema, {"n": 5}) == []
    assert errors_of(schema, {"n": 10}) == []


def test_string_lengths_and_pattern() -> None:
    schema = root(s={"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^[a-z]+$"})
    assert errors_of(schema, {"s": "abcd"}) == [("s", S.TOO_LONG, "Too long: may not be more than 3 bytes")]
    assert errors_of(schema, {"s": "a"}) == [
        ("s", S.INVALID, 'Invalid value: "a": s in body should be at least 2 chars long')
    ]
    assert errors_of(schema, {"s": "A1"}) == [
        ("s", S.INVALID, "Invalid value: \"A1\": s in body should match '^[a-z]+$'")
    ]
    assert errors_of(schema, {"s": "ab"}) == []


def test_pattern_is_a_search_not_a_full_match() -> None:
    """As Go's regexp.MatchString: an unanchored pattern matches anywhere."""
    assert errors_of(root(s={"type": "string", "pattern": "b"}), {"s": "abc"}) == []


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("date-time", "2024-05-01T10:00:00Z", "2024-13-01T10:00:00Z"),
        ("date-time", "2024-05-01T10:00:00.123+02:00", "yesterday"),
        ("date", "2024-05-01", "2024-5-1"),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123"),
        ("ipv4", "10.0.0.1", "10.0.0.256"),
        ("byte", "aGVsbG8=", "not base64!"),
    ],
)
def test_formats(fmt: str, good: str, bad: str) -> None:
    schema = root(v={"type": "string", "format": fmt})
    assert errors_of(schema, {"v": good}) == []
    assert errors_of(schema, {"v": bad}) == [
        ("v", S.TYPE_INVALID, f'Invalid value: "{bad}": v in body must be of type {fmt}: "{bad}"')
    ]


def test_unknown_formats_are_not_checked() -> None:
    assert errors_of(root(v={"type": "string", "format": "k8s-whatever"}), {"v": "!!"}) == []


# --- arrays and maps -----------------------------------------------------------------------------


def test_items_paths_use_brackets() -> None:
    schema = root(xs={"type": "array", "items": {"type": "integer", "maximum": 5}})
    assert errors_of(schema, {"xs": [1, 9, "a"]}) == [
        ("xs[1]", S.INVALID, "Invalid value: 9: xs[1] in body should be less than or equal to 5"),
        ("xs[2]", S.TYPE_INVALID, 'Invalid value: "string": xs[2] in body must be of type integer: "string"'),
    ]


def test_min_and_max_items() -> None:
    schema = root(xs={"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "integer"}})
    assert errors_of(schema, {"xs": [1]}) == [
        ("xs", S.INVALID, "Invalid value: 1: xs in body should have at least 2 items")
    ]
    assert errors_of(schema, {"xs": [1, 2, 3, 4]}) == [
        ("xs", S.TOO_MANY, "Too many: 4: must have at most 3 items")
    ]


def test_unique_items() -> None:
    schema = root(xs={"type": "array", "uniqueItems": True, "items": {"type": "integer"}})
    assert errors_of(schema, {"xs": [1, 2, 1]}) == [
        ("xs", S.INVALID, 'Invalid value: "": xs in body shouldn\'t contain duplicates')
    ]


def test_map_values_are_validated_with_dotted_paths() -> None:
    schema = root(labels={"type": "object", "additionalProperties": {"type": "string"}})
    assert errors_of(schema, {"labels": {"a": "x", "b": 2}}) == [
        (
            "labels.b",
            S.TYPE_INVALID,
            'Invalid value: "integer": labels.b in body must be of type string: "integer"',
        )
    ]


def test_min_and_max_properties() -> None:
    schema = root(m={"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}})
    assert errors_of(schema, {"m": {"a": "1", "b": "2"}}) == [
        ("m", S.TOO_MANY, "Too many: 2: must have at most 1 item")
    ]


def test_list_type_set_and_map_reject_duplicates() -> None:
    schema = root(
        tags={"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        ports={
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": root(name={"type": "string"}, port={"type": "integer"}),
        },
    )
    obj = {"tags": ["a", "b", "a"], "ports": [{"name": "http", "port": 1}, {"name": "http", "port": 2}]}
    assert errors_of(schema, obj) == [
        ("tags[2]", S.DUPLICATE, 'Duplicate value: "a"'),
        ("ports[1]", S.DUPLICATE, 'Duplicate value: {"name":"http"}'),
    ]


def test_combinators_report_without_a_path() -> None:
    schema = root(
        v={"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}], "not": {"pattern": "z$"}}
    )
    assert errors_of(schema, {"v": "az"}) == [
        ("<nil>", S.INVALID, 'Invalid value: "": "v" must not validate the schema (not)')
    ]
    errors = errors_of(schema, {"v": "c"})
    assert errors[0] == (
        "<nil>",
        S.INVALID,
        'Invalid value: "": "v" must validate at least one schema (anyOf)',
    )
    assert errors[1][0] == "v"


# --- pruning -------------------------------------------------------------------------------------


def test_prune_drops_unknown_fields_and_reports_their_paths() -> None:
    schema = root(spec=root(a={"type": "string"}, xs={"type": "array", "items": root(b={"type": "integer"})}))
    obj = {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n", "weird": 1},
        "spec": {"a": "1", "z": 2, "xs": [{"b": 1, "c": 2}]},
        "extra": True,
    }
    assert S.prune(schema, obj) == ["extra", "metadata.weird", "spec.xs[0].c", "spec.z"]
    assert obj == {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "n"},
        "spec": {"a": "1", "xs": [{"b": 1}]},
    }


def test_prune_keeps_everything_under_preserve_unknown_fields_but_prunes_declared_parts() -> None:
    schema = root(
        raw={"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"known": root()}}
    )
    obj = {"raw": {"anything": {"deep": [1]}, "known": {"dropme": 1}}}
    assert S.prune(schema, obj) == ["raw.known.dropme"]
    assert obj == {"raw": {"anything": {"deep": [1]}, "known": {}}}


def test_prune_keeps_map_entries() -> None:
    schema = root(labels={"type": "object", "additionalProperties": {"type": "string"}})
    obj = {"labels": {"a": "1"}}
    assert S.prune(schema, obj) == []
    assert obj == {"labels": {"a": "1"}}


def test_prune_keeps_embedded_resource_meta_fields() -> None:
    schema = root(template={"type": "object", "x-kubernetes-embedded-resource": True, "properties": {}})
    obj = {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}}
    assert S.prune(schema, obj) == ["template.spec"]
    assert obj == {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}}


# --- defaulting ----------------------------------------------------------------------------------


def test_defaults_fill_absent_fields_recursively() -> None:
    schema = root(
        spec=root(
            replicas={"type": "integer", "default": 1},
            policy={
                "type": "object",
                "default": {},
                "properties": {"mode": {"type": "string", "default": "safe"}},
            },
            items={"type": "array", "items": root(weight={"type": "integer", "default": 5})},
        )
    )
    obj: dict[str, Any] = {"spec": {"items": [{}, {"weight": 9}]}}
    S.apply_defaults(schema, obj)
    assert obj == {
        "spec": {"replicas": 1, "policy": {"mode": "safe"}, "items": [{"weight": 5}, {"weight": 9}]}
    }


def test_defaults_do_not_create_absent_parents() -> None:
    schema = root(spec=root(replicas={"type": "integer", "default": 1}))
    obj: dict[str, Any] = {}
    S.apply_defaults(schema, obj)
    assert obj == {}


def test_defaults_are_copies() -> None:
    schema = root(a={"type": "object", "default": {"k": "v"}, "properties": {"k": {"type": "string"}}})
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    S.apply_defaults(schema, first)
    first["a"]["k"] = "changed"
    S.apply_defaults(schema, second)
    assert second == {"a": {"k": "v"}}


def test_nulls_are_dropped_defaulted_or_kept_like_the_api_server() -> None:
    schema = root(
        plain={"type": "string"},
        defaulted={"type": "string", "default": "d"},
        nullable={"type": "string", "nullable": True, "default": "d"},
        labels={"type": "object", "additionalProperties": {"type": "string", "default": "x"}},
    )
    obj: dict[str, Any] = {"plain": None, "defaulted": None, "nullable": None, "labels": {"a": None}}
    S.apply_defaults(schema, obj)
    assert obj == {"defaulted": "d", "nullable": None, "labels": {"a": "x"}}
    assert S.validate(schema, obj) == []


def test_defaults_skip_root_metadata() -> None:
    schema = root(metadata={"type": "object", "properties": {"name": {"type": "string", "default": "x"}}})
    obj: dict[str, Any] = {"metadata": {}}
    S.apply_defaults(schema, obj)
    assert obj == {"metadata": {}}


# --- CEL -----------------------------------------------------------------------------------------


def ruled(*rules: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"spec": {**root(**properties), "x-kubernetes-validations": list(rules)}},
    }


AB = {"a": {"type": "integer"}, "b": {"type": "integer"}}


def test_rule_message_and_default_message() -> None:
    schema = ruled({"rule": "self.a < self.b", "message": "a must be below b"}, {"rule": "self.a != 3"}, **AB)
    assert errors_of(schema, {"spec": {"a": 3, "b": 2}}) == [
        ("spec", S.INVALID, "Invalid value: a must be below b"),
        ("spec", S.INVALID, "Invalid value: failed rule: self.a != 3"),
    ]
    assert errors_of(schema, {"spec": {"a": 1, "b": 2}}) == []


def test_rule_field_path_and_reason() -> None:
    schema = ruled(
        {"rule": "has(self.a)", "message": "a is needed", "fieldPath": ".a", "reason": "FieldValueRequired"},
        {
            "rule": "!has(self.b)",
            "message": "b is not allowed",
            "fieldPath": ".b",
            "reason": "FieldValueForbidden",
        },
        **AB,
    )
    assert errors_of(schema, {"spec": {"b": 1}}) == [
        ("spec.a", S.REQUIRED, "Required value: a is needed"),
        ("spec.b", S.FORBIDDEN, "Forbidden: b is not allowed"),
    ]


def test_message_expression() -> None:
    schema = ruled({"rule": "self.a < 10", "messageExpression": "'a is ' + string(self.a)"}, **AB)
    assert errors_of(schema, {"spec": {"a": 12}}) == [("spec", S.INVALID, "Invalid value: a is 12")]


def test_runtime_error_is_reported_with_the_rule() -> None:
    schema = ruled({"rule": "self.a > 0"}, **AB)
    assert errors_of(schema, {"spec": {"b": 1}}) == [
        ("spec", S.INVALID, 'Invalid value: "object": no such key: a evaluating rule: self.a > 0')
    ]


def test_rules_on_list_items_and_map_values_use_index_and_key_paths() -> None:
    item = {"type": "integer", "x-kubernetes-validations": [{"rule": "self % 2 == 0", "message": "even"}]}
    schema = root(
        xs={"type": "array", "items": item},
        m={"type": "object", "additionalProperties": item},
    )
    assert errors_of(schema, {"xs": [2, 3], "m": {"k": 5}}) == [
        ("xs[1]", S.INVALID, "Invalid value: 3: even"),
        ("m[k]", S.INVALID, "Invalid value: 5: even"),
    ]


def test_kubernetes_list_functions() -> None:
    xs = {
        "type": "array",
        "items": {"type": "integer"},
        "x-kubernetes-validations": [
            {"rule": "self.isSorted()", "message": "sorted"},
            {"rule": "self.sum() <= 10", "message": "sum"},
            {"rule": "self.indexOf(7) == -1", "message": "no seven"},
        ],
    }
    assert errors_of(root(xs=xs), {"xs": [1, 2, 3]}) == []
    assert [e[2] for e in errors_of(root(xs=xs), {"xs": [7, 5]})] == [
        "Invalid value: sorted",
        "Invalid value: sum",
        "Invalid value: no seven",
    ]


def test_number_fields_are_doubles_in_cel() -> None:
    schema = ruled(
        {"rule": "self.x <= self.y", "message": "order"}, x={"type": "number"}, y={"type": "number"}
    )
    assert errors_of(schema, {"spec": {"x": 1, "y": 2.5}}) == []
    assert errors_of(schema, {"spec": {"x": 3, "y": 2.5}}) == [("spec", S.INVALID, "Invalid value: order")]


def test_rules_are_not_checked_after_a_blocking_error() -> None:
    schema = ruled({"rule": "false", "message": "never"}, a={"type": "integer"})
    assert errors_of(schema, {"spec": {"a": "x"}}) == [
        (
            "spec.a",
            S.TYPE_INVALID,
            'Invalid value: "string": spec.a in body must be of type integer: "string"',
        ),
        (
            "<nil>",
            S.INVALID,
            "Invalid value: null: some validation rules were not checked because the object was invalid; "
            "correct the existing errors to complete validation",
        ),
    ]


def test_rules_still_run_after_a_non_blocking_error() -> None:
    schema = ruled({"rule": "false", "message": "never"}, a={"type": "integer", "minimum": 5})
    assert [e[0] for e in errors_of(schema, {"spec": {"a": 1}})] == ["spec.a", "spec"]


def test_transition_rules_need_the_old_object() -> None:
    schema = ruled({"rule": "self.a >= oldSelf.a", "message": "a may not decrease"}, **AB)
    assert S.validate(schema, {"spec": {"a": 1}}) == []  # create: not evaluated, as the API server
    assert S.validate(schema, {"spec": {"a": 2}}, old={"spec": {"a": 1}}) == []
    assert [e.message for e in S.validate(schema, {"spec": {"a": 1}}, old={"spec": {"a": 2}})] == [
        "Invalid value: a may not decrease"
    ]


def test_functions_cel_python_lacks_leave_the_rule_unchecked() -> None:
    schema = ruled({"rule": "isURL(self.u)"}, u={"type": "string"})
    assert S.validate(schema, {"spec": {"u": "not a url"}}) == []


def test_root_rules_see_only_name_and_generate_name_of_metadata() -> None:
    schema = {
        "type": "object",
        "x-kubernetes-validations": [{"rule": "!has(self.metadata.labels)", "message": "labels hidden"}],
        "properties": {"metadata": {"type": "object"}},
    }
    assert S.validate(schema, {"metadata": {"name": "a", "labels": {"x": "y"}}}) == []


# --- kube-apiserver v1.37 specifics (each compared with the real server's answer) ----------------


def test_a_fraction_for_an_integer_is_a_type_error_and_out_of_its_range() -> None:
    schema = root(i={"type": "integer"}, i32={"type": "integer", "format": "int32", "minimum": 1})
    assert errors_of(schema, {"i": 1.5}) == [
        ("i", S.TYPE_INVALID, 'Invalid value: "number": i in body must be of type integer: "number"'),
        (
            "<nil>",
            S.INVALID,
            'Invalid value: "": Checked value must be of type integer (default format) in i',
        ),
    ]
    assert errors_of(schema, {"i32": 1.5}) == [
        ("i32", S.TYPE_INVALID, 'Invalid value: "float64": i32 in body must be of type int32: "float64"'),
        (
            "<nil>",
            S.INVALID,
            'Invalid value: "": Checked value must be of type integer with format int32 in i32',
        ),
    ]
    assert errors_of(schema, {"i": 1e20}) == [  # beyond 2**53 a float is no JSON integer
        ("i", S.TYPE_INVALID, 'Invalid value: "number": i in body must be of type integer: "number"'),
        (
            "<nil>",
            S.INVALID,
            'Invalid value: "": Checked value must be of type integer (default format) in i',
        ),
    ]
    assert errors_of(schema, {"i32": 3000000000}) == [
        (
            "<nil>",
            S.INVALID,
            'Invalid value: "": Checked value must be of type integer with format int32 in i32',
        )
    ]
    assert errors_of(schema, {"i": 2.0, "i32": 2147483647}) == []


def test_a_formatted_node_names_its_format_in_type_errors() -> None:
    schema = root(
        i32={"type": "integer", "format": "int32"},
        dt={"type": "string", "format": "date-time"},
        f={"type": "number", "format": "float"},
    )
    assert errors_of(schema, {"i32": True}) == [
        ("i32", S.TYPE_INVALID, 'Invalid value: "": i32 in body must be of type int32: ""')
    ]
    assert errors_of(schema, {"dt": 1}) == [
        ("dt", S.TYPE_INVALID, 'Invalid value: "int64": dt in body must be of type date-time: "int64"')
    ]
    assert errors_of(schema, {"dt": [1, 2]}) == []  # kube-openapi lets an array through a formatted string
    assert errors_of(schema, {"f": 1e39}) == [
        ("<nil>", S.INVALID, 'Invalid value: "": Checked value must be of type number with format float in f')
    ]


def test_a_rule_on_a_scalar_shows_the_value_and_on_an_object_none() -> None:
    schema = root(
        s={"type": "string", "x-kubernetes-validations": [{"rule": "self != 'bad'", "message": "not bad"}]},
        b={"type": "boolean", "x-kubernetes-validations": [{"rule": "self", "message": "must be true"}]},
        d={"type": "string", "x-kubernetes-validations": [{"rule": "self != 'x'", "reason": S.DUPLICATE}]},
        m={
            "type": "object",
            "additionalProperties": {"type": "string"},
            "x-kubernetes-validations": [{"rule": "size(self) < 2", "message": "small"}],
        },
    )
    assert errors_of(schema, {"s": "bad", "b": False, "d": "x", "m": {"a": "1", "b": "2"}}) == [
        ("s", S.INVALID, 'Invalid value: "bad": not bad'),
        ("b", S.INVALID, "Invalid value: false: must be true"),
        ("d", S.DUPLICATE, 'Duplicate value: "x"'),
        ("m", S.INVALID, "Invalid value: small"),
    ]


def test_list_sets_report_the_second_appearance_and_tell_int_from_float() -> None:
    schema = root(
        xs={"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "number"}},
        ms={
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["k"],
            "items": {**root(k={"type": "string"}), "required": ["k"]},
        },
    )
    assert errors_of(schema, {"xs": [2, 2, 2, 3, 3]}) == [
        ("xs[1]", S.DUPLICATE, "Duplicate value: 2"),
        ("xs[4]", S.DUPLICATE, "Duplicate value: 3"),
    ]
    assert errors_of(schema, {"xs": [1, 1.5, 1.0]}) == []  # an int64 and a float64 differ in Go
    assert errors_of(schema, {"ms": [{"k": "a"}, {"k": "a"}, {"k": "a"}]}) == [
        ("ms[1]", S.DUPLICATE, 'Duplicate value: {"k":"a"}')
    ]
    assert errors_of(schema, {"ms": ["x"]}) == [
        ("ms[0]", S.TYPE_INVALID, 'Invalid value: "string": ms[0] in body must be of type object: "string"'),
        ("ms[0]", S.INVALID, 'Invalid value: "x": must be an object for an array of list-type map'),
    ]


def test_list_types_are_ratcheted_on_update() -> None:
    schema = root(xs={"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}})
    assert S.validate(schema, {"xs": ["a", "a", "b"]}, old={"xs": ["a", "a"]}) == []
    assert [e.field for e in S.validate(schema, {"xs": ["a", "a"]}, old={"xs": ["a"]})] == ["xs[1]"]


def test_bad_values_are_rendered_as_go_json() -> None:
    schema = root(o={"type": "object", "properties": {"a": {"type": "string"}}, "enum": [{"a": "x"}]})
    assert errors_of(schema, {"o": {"a": "<&>"}}) == [
        (
            "o",
            S.NOT_SUPPORTED,
            'Unsupported value: {"a":"\\u003c\\u0026\\u003e"}: supported values: "{\\"a\\":\\"x\\"}"',
        )
    ]


def test_a_status_write_is_validated_by_the_status_schema_alone() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": root(size={"type": "integer", "minimum": 1}),
            "status": root(
                w={"type": "integer", "format": "int32", "maximum": 100},
                nested=root(x={"type": "integer", "minimum": 0}),
            ),
        },
    }
    obj = {"spec": {"size": 0}, "status": {"w": 101, "nested": {"x": -1}}}
    assert [(e.field, e.reason, e.message) for e in S.validate_status(schema, obj)] == [
        ("status.w", S.INVALID, "Invalid value: 101: w in body should be less than or equal to 100"),
        (
            "status.nested.x",
            S.INVALID,
            "Invalid value: -1: nested.x in body should be greater than or equal to 0",
        ),
    ]  # spec.size is not validated by a status write
    assert [(e.field, e.message) for e in S.validate_status(schema, {"status": {"w": 1.5}})] == [
        ("status.w", 'Invalid value: "float64": w in body must be of type int32: "float64"'),
        ("status", 'Invalid value: "": Checked value must be of type integer with format int32 in w'),
    ]
    assert S.validate_status(schema, {"spec": {"size": 0}}) == []  # no status: nothing to check


# --- Status body ---------------------------------------------------------------------------------


def test_invalid_status_is_the_api_servers_422() -> None:
    errors = [
        S.FieldError("spec.a", S.REQUIRED, "Required value"),
        S.FieldError(
            "spec.b", S.INVALID, "Invalid value: 0: spec.b in body should be greater than or equal to 1"
        ),
    ]
    status = S.invalid_status("serinus.dev", "Canary", "podinfo", errors)
    assert status["code"] == 422 and status["reason"] == "Invalid" and status["status"] == "Failure"
    assert status["message"] == (
        'Canary.serinus.dev "podinfo" is invalid: [spec.a: Required value, '
        "spec.b: Invalid value: 0: spec.b in body should be greater than or equal to 1]"
    )
    assert status["details"] == {
        "name": "podinfo",
        "group": "serinus.dev",
        "kind": "Canary",
        "causes": [
            {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.a"},
            {
                "reason": "FieldValueInvalid",
                "message": "Invalid value: 0: spec.b in body should be greater than or equal to 1",
                "field": "spec.b",
            },
        ],
    }
    one = S.invalid_status("", "ConfigMap", "c", errors[:1])
    assert one["message"] == 'ConfigMap "c" is invalid: spec.a: Required value'


# --- CRD checks ----------------------------------------------------------------------------------


def crd(schema: dict[str, Any], **version: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "things", "kind": "Thing"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    **version,
                }
            ],
        },
    }


BASE = "spec.validation.openAPIV3Schema"  # one version: its schema is the internal CRD's spec.validation


def crd_errors(schema: dict[str, Any], **version: Any) -> list[tuple[str, str]]:
    return [(e.field, e.reason) for e in S.validate_crd(crd(schema, **version), check_cel=True)]


def test_a_good_crd_passes() -> None:
    assert crd_errors(root(spec=root(a={"type": "string", "default": "x"}))) == []


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (root(spec={"properties": {}}), [(f"{BASE}.properties[spec].type", S.REQUIRED)]),
        (root(xs={"type": "array"}), [(f"{BASE}.properties[xs].items", S.REQUIRED)]),
        (
            root(xs={"type": "array", "uniqueItems": True, "items": {"type": "string"}}),
            [(f"{BASE}.properties[xs].uniqueItems", S.FORBIDDEN)],
        ),
        (
            root(
                m={
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "additionalProperties": {"type": "string"},
                }
            ),
            [(f"{BASE}.properties[m].additionalProperties", S.FORBIDDEN)],
        ),
        (root(metadata=root(labels={"type": "object"})), [(f"{BASE}.properties[metadata]", S.FORBIDDEN)]),
        (
            root(n={"type": "integer", "minimum": 1, "default": 0}),
            [(f"{BASE}.properties[n].default", S.INVALID)],
        ),
        (
            root(v={"type": "string", "anyOf": [{"type": "string"}]}),
            [(f"{BASE}.properties[v].anyOf[0].type", S.FORBIDDEN)],
        ),
        (
            root(s={"type": "string", "x-kubernetes-validations": [{"rule": "self.size( > 1"}]}),
            [(f"{BASE}.properties[s].x-kubernetes-validations[0].rule", S.INVALID)],
        ),
        ({"type": "string"}, [(f"{BASE}.type", S.INVALID)]),
        ({"properties": {}}, [(f"{BASE}.type", S.REQUIRED)]),
        (
            {"type": "object", "additionalProperties": {"type": "string"}},
            [(f"{BASE}.additionalProperties", S.FORBIDDEN)],
        ),
    ],
)
def test_non_structural_schemas_are_refused(schema: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert crd_errors(schema) == expected


def test_int_or_string_may_spell_out_its_any_of() -> None:
    port = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert crd_errors(root(port=port)) == []


def test_bad_printer_column_and_names() -> None:
    bad = crd(root(), additionalPrinterColumns=[{"name": "X", "type": "time", "jsonPath": "status.x"}])
    bad["metadata"]["name"] = "wrong"
    assert [(e.field, e.reason) for e in S.validate_crd(bad)] == [
        ("metadata.name", S.INVALID),
        ("spec.additionalPrinterColumns[0].type", S.INVALID),
        ("spec.additionalPrinterColumns[0].JSONPath", S.INVALID),
    ]


def test_crd_errors_are_worded_and_placed_as_kube_apiserver_v1_37_does() -> None:
    """Checked against the real server: what all versions share is reported once, under the internal
    CRD's top-level fields; a default's own errors keep their message."""
    bad = crd(root(n={"type": "integer", "minimum": 1, "default": 0}),
              additionalPrinterColumns=[{"name": "X", "type": "time", "jsonPath": "status.x"}])  # fmt: skip
    assert [str(e) for e in S.validate_crd(bad)] == [
        "spec.validation.openAPIV3Schema.properties[n].default: Invalid value: 0:  in body should be greater "
        "than or equal to 1",
        'spec.additionalPrinterColumns[0].type: Invalid value: "time": must be one of '
        "boolean,date,integer,number,string",
        'spec.additionalPrinterColumns[0].JSONPath: Invalid value: "status.x": must be a simple json path '
        "starting with .",
    ]
    two = crd(root(spec={"properties": {}}))
    two["spec"]["versions"].append({**two["spec"]["versions"][0], "name": "v2", "storage": False})
    assert [e.field for e in S.validate_crd(two)] == ["spec.validation.openAPIV3Schema.properties[spec].type"]
    two["spec"]["versions"][1]["schema"] = {"openAPIV3Schema": root()}
    assert [e.field for e in S.validate_crd(two)] == [
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type"
    ]
    assert S.validate_crd(crd(root(m={"type": "object", "additionalProperties": False}))) == []


def test_schema_of_finds_a_version() -> None:
    definition = crd(root(a={"type": "string"}))
    assert S.schema_of(definition, "v1")["properties"] == {"a": {"type": "string"}}
    with pytest.raises(KeyError, match="no version 'v2'"):
        S.schema_of(definition, "v2")
