"""Structural-schema pruning, defaulting and validation of custom objects, as kube-apiserver does it.

The API emulator calls these for every create, update and patch of a custom resource, in the
order the real API server applies them::

    unknown = prune(schema, obj)        # drop fields the schema does not declare
    apply_defaults(schema, obj)         # drop non-nullable nulls, fill in defaults
    errors = validate(schema, obj)      # OpenAPI v3 keywords, list types, then CEL rules

``schema`` is a version's ``openAPIV3Schema`` as plain JSON (``schema_of(crd, version)`` finds it).
Errors are :class:`FieldError` values carrying the Kubernetes field path, the ``StatusCause`` reason
and the API server's wording (``Invalid value: 0: spec.x in body should be greater than or equal
to 1``), so the emulator answers 422 with the body a real cluster would send
(:func:`invalid_status`).

Fidelity notes (what the real server does that this module leaves out, and why):

- CEL rules run on cel-python. Kubernetes' list library (``isSorted``, ``sum``, ``min``, ``max``,
  ``indexOf``, ``lastIndexOf``) and a few string functions are added here; cel-python has no
  cross-type numeric comparison (``1 < 1.5`` is an error), no ``optional`` types, and no
  estimated-cost limits. A rule cel-python cannot parse, or that calls a function it lacks, is
  left unchecked (the real server accepted the CRD, so failing objects would be the bigger lie);
  Serinus' own CRDs keep to what both implementations evaluate alike, and their tests prove it.
- Transition rules (those using ``oldSelf``) run only when ``validate`` is given the old object,
  and only on values that correlate (object properties, map keys, ``list-type: map`` items), like
  the real server; ``optionalOldSelf`` is not supported (such rules are skipped on create).
- Validation ratcheting (1.30+, which tolerates unchanged invalid values on update) is not done
  for the OpenAPI keywords and CEL rules: an update is validated like a create, which is stricter,
  never looser. The list types are ratcheted as on the real server (not checked when the stored
  object already breaks them).
- The messages follow kube-apiserver v1.37.2 (compared with its answers in
  ``tests/integration/kubernetes``): a bad value is rendered as Go's ``json.Marshal`` does
  (``null``, ``{"name":"x"}``), a failed CEL rule shows a scalar's value and nothing for an object or
  an array, a write through the ``status`` subresource is checked by a validator rooted at the
  status schema (:func:`validate_status`). Errors of sibling properties come in schema order here;
  the real server's order follows Go's map iteration and varies from call to call.
- ``metadata`` is coerced like ObjectMeta (unknown keys dropped); its contents (names, labels) are
  validated by the emulator, not here, as in the real server.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import functools
import ipaddress
import json
import math
import operator
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

__all__ = [
    "DUPLICATE",
    "FORBIDDEN",
    "INVALID",
    "NOT_SUPPORTED",
    "REQUIRED",
    "TOO_LONG",
    "TOO_MANY",
    "TYPE_INVALID",
    "FieldError",
    "admit",
    "apply_defaults",
    "invalid_status",
    "prune",
    "schema_of",
    "validate",
    "validate_crd",
    "validate_status",
]

Schema = Mapping[str, Any]

# StatusCause reasons (metav1.CauseType == field.ErrorType), and the words ErrorBody() prints.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
TYPE_INVALID = "FieldValueTypeInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
_WORDS = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    TYPE_INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    DUPLICATE: "Duplicate value",
    FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
}
# Errors that print no value (field.Error.ErrorBody).
_NO_VALUE = {REQUIRED, FORBIDDEN, TOO_LONG}
# Schema errors after which the API server does not run CEL rules (strategy.go hasBlockingErr).
_BLOCKING = {NOT_SUPPORTED, REQUIRED, TOO_LONG, TOO_MANY, TYPE_INVALID}
_NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)
_OMITTED = object()  # a value ErrorBody leaves out


@dataclass(frozen=True)
class FieldError:
    """One validation failure, shaped like a Kubernetes ``StatusCause``.

    ``field`` is the field path (``spec.analysis.stepWeights[2]``; ``<nil>`` for an error about the
    whole object, as the API server prints it), ``reason`` the cause type (``FieldValueInvalid``...),
    ``message`` the error body without the path (``Invalid value: 0: ...``).
    """

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    def as_cause(self) -> dict[str, str]:
        """The ``details.causes[]`` entry of a 422 ``Status``."""
        return {"reason": self.reason, "message": self.message, "field": self.field}


def _error(reason: str, path: str, value: Any = _OMITTED, detail: str = "") -> FieldError:
    body = _WORDS[reason]
    if reason not in _NO_VALUE and value is not _OMITTED:
        body = f"{body}: {_go_value(value)}"
    if detail:
        body = f"{body}: {detail}"
    return FieldError(path or "<nil>", reason, body)


def _not_supported(path: str, value: Any, allowed: Sequence[Any]) -> FieldError:
    quoted = ", ".join(_go_quote(a if isinstance(a, str) else _go_json(a)) for a in allowed)
    return _error(NOT_SUPPORTED, path, value, f"supported values: {quoted}")


def _too_long(path: str, limit: int) -> FieldError:
    unit = "byte" if limit == 1 else "bytes"
    return _error(TOO_LONG, path, detail=f"may not be more than {limit} {unit}")


def _too_many(path: str, actual: int, limit: int) -> FieldError:
    unit = "item" if limit == 1 else "items"
    return _error(TOO_MANY, path, actual, f"must have at most {limit} {unit}")


def invalid_status(group: str, kind: str, name: str, errors: Sequence[FieldError]) -> dict[str, Any]:
    """The 422 ``Status`` body the API server returns for ``errors`` (apierrors.NewInvalid)."""
    qualified = f"{kind}.{group}" if group else kind
    unique: list[str] = []
    for err in errors:
        text = str(err)
        if text not in unique:
            unique.append(text)
    message = f"{qualified} {_go_quote(name)} is invalid"
    if len(unique) == 1:
        message += f": {unique[0]}"
    elif unique:
        message += ": [" + ", ".join(unique) + "]"
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Invalid",
        "details": {"name": name, "group": group, "kind": kind, "causes": [e.as_cause() for e in errors]},
        "code": 422,
    }


# --- Go formatting, so messages read exactly as the API server's ---------------------------------


def _go_quote(text: str) -> str:
    """Go's %q for a string (close enough: JSON escaping without escaping non-ASCII)."""
    return json.dumps(text, ensure_ascii=False)


def _go_float(value: float) -> str:
    """Go's %v for a float64: shortest digits, exponent form below 1e-4 and from 1e+06."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # position of the decimal point in the digit string
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:  # Go's %v switches to %e from 1e+06 (shortest formatting)
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def _go_value(value: Any) -> str:
    """Go's rendering of a bad value in field.Error.ErrorBody (v1.37): %v for numbers and booleans,
    %q for strings, ``json.Marshal`` for everything else (``null`` for nil, ``{"a":1}`` for maps)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_quote(value)
    return _go_json(value)


_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_json_float(value: float) -> str:
    """encoding/json's float64: shortest digits, %e below 1e-6 and from 1e21 (``1e-07`` -> ``1e-7``)."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return "0" if value == 0 else _go_float(value)
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = repr(value)  # the same shortest digits and e[+-]dd exponent as Go's 'e' format
        return re.sub(r"e-0(\d)$", r"e-\1", text)
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def _go_json(value: Any) -> str:
    """Go's ``json.Marshal`` of a decoded JSON value: compact, map keys sorted, HTML characters escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_json_float(value)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return "".join(_GO_JSON_ESCAPES.get(char, char) for char in text)
    if isinstance(value, Mapping):
        items = (
            f"{_go_json(str(k))}:{_go_json(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    return _go_json(str(value))


def _limit(value: Any) -> str:
    """A schema bound as the OpenAPI validator prints it (%v of a float64 or int64)."""
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


# --- the schema walk helpers -----------------------------------------------------------------------

_OBJECT_META_FIELDS = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
        "annotations", "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip


def schema_of(crd: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of ``version`` in a CRD (an empty object schema when it has none)."""
    spec = crd.get("spec", {})
    for entry in spec.get("versions", []):
        if entry.get("name") == version:
            found = (entry.get("schema") or {}).get("openAPIV3Schema")
            if found is None:
                found = (spec.get("validation") or {}).get("openAPIV3Schema")
            return dict(found) if found else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    raise KeyError(
        f"CustomResourceDefinition {crd.get('metadata', {}).get('name')!r} has no version {version!r}"
    )


def _additional(schema: Schema) -> Schema | None:
    """The schema of map values (``additionalProperties`` given as a schema), if any."""
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        return extra
    if extra is True:
        return {}
    return None


def _preserves(schema: Schema | None) -> bool:
    return bool(schema is not None and schema.get("x-kubernetes-preserve-unknown-fields"))


# --- pruning -------------------------------------------------------------------------------------


def prune(schema: Schema, obj: dict[str, Any]) -> list[str]:
    """Drop the fields of ``obj`` (a whole custom object) that ``schema`` does not declare, in place.

    As the API server does: ``apiVersion``, ``kind`` and ``metadata`` are kept at the root (and in
    ``x-kubernetes-embedded-resource`` objects), ``metadata`` keeps only ObjectMeta's fields, and
    nothing under ``x-kubernetes-preserve-unknown-fields`` is dropped except inside the properties
    it declares. Returns the sorted paths of what was dropped (``spec.foo``, ``spec.list[0].bar``),
    which the emulator needs for ``fieldValidation=Warn|Strict``.
    """
    dropped: list[str] = []
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in [k for k in meta if k not in _OBJECT_META_FIELDS]:
            del meta[key]
            dropped.append(f"metadata.{key}")
    _prune(obj, {**schema, "x-kubernetes-embedded-resource": True}, "", dropped)
    return sorted(dropped)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _prune(value: Any, schema: Schema | None, path: str, dropped: list[str]) -> None:
    if _preserves(schema):
        _skip_prune(value, schema, path, dropped)
        return
    if isinstance(value, dict):
        if schema is None:
            for key in list(value):
                dropped.append(_join(path, key))
                del value[key]
            return
        properties: Mapping[str, Schema] = schema.get("properties") or {}
        extra = _additional(schema)
        for key in list(value):
            if schema.get("x-kubernetes-embedded-resource") and _is_meta_field(key, value[key]):
                continue
            if key in properties:
                _prune(value[key], properties[key], _join(path, key), dropped)
            elif extra is not None:
                _prune(value[key], extra, _join(path, key), dropped)
            else:
                dropped.append(_join(path, key))
                del value[key]
    elif isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        for index, item in enumerate(value):
            _prune(item, items, f"{path}[{index}]", dropped)


def _is_meta_field(key: str, value: Any) -> bool:
    return (key in ("apiVersion", "kind") and isinstance(value, str)) or (
        key == "metadata" and isinstance(value, dict)
    )


def _skip_prune(value: Any, schema: Schema | None, path: str, dropped: list[str]) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        properties: Mapping[str, Schema] = schema.get("properties") or {}
        extra = _additional(schema)
        for key, item in value.items():
            if schema.get("x-kubernetes-embedded-resource") and _is_meta_field(key, item):
                continue
            if key in properties:
                _prune(item, properties[key], _join(path, key), dropped)
            elif extra is not None:
                _prune(item, extra, _join(path, key), dropped)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _skip_prune(item, schema.get("items"), f"{path}[{index}]", dropped)


# --- defaulting ----------------------------------------------------------------------------------


def apply_defaults(schema: Schema, obj: Any) -> None:
    """Default ``obj`` in place from ``schema``, as the API server does on every write and read.

    First a null in a non-nullable field without a default is removed; then every absent field
    (or non-nullable null) of a present object gets a deep copy of its ``default``, recursively,
    so defaults inside a defaulted object apply too. ``metadata`` at the root is left alone.
    """
    _drop_nulls(obj, schema, root=True)
    _default(obj, schema, root=True)


def _non_nullable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and schema is not None and not schema.get("nullable")


def _drop_nulls(value: Any, schema: Schema | None, root: bool = False) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        properties: Mapping[str, Schema] = schema.get("properties") or {}
        extra = _additional(schema)
        for key in list(value):
            if root and key == "metadata":
                continue
            sub = properties.get(key, extra)
            if _non_nullable_null(value[key], sub) and sub is not None and "default" not in sub:
                del value[key]
            else:
                _drop_nulls(value[key], sub)
    elif isinstance(value, list):
        for item in value:
            _drop_nulls(item, schema.get("items"))


def _default(value: Any, schema: Schema | None, root: bool = False) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        properties: Mapping[str, Schema] = schema.get("properties") or {}
        for key, sub in properties.items():
            if root and key == "metadata":
                continue
            if "default" in sub and (key not in value or _non_nullable_null(value[key], sub)):
                value[key] = copy.deepcopy(sub["default"])
        extra = _additional(schema)
        for key in list(value):
            if root and key == "metadata":
                continue
            if key in properties:
                _default(value[key], properties[key])
            elif extra is not None:
                if _non_nullable_null(value[key], extra) and "default" in extra:
                    value[key] = copy.deepcopy(extra["default"])
                _default(value[key], extra)
    elif isinstance(value, list):
        items = schema.get("items")
        for index, item in enumerate(value):
            if items is not None and _non_nullable_null(item, items) and "default" in items:
                value[index] = copy.deepcopy(items["default"])
            _default(value[index], items)


# --- OpenAPI v3 validation (kube-openapi's SchemaValidator, as apiextensions reports it) ----------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


_MAX_FLOAT32 = 3.4028234663852886e38
_MAX_JSON_FLOAT = float(2**53 - 1)


def _is_json_integer(value: float) -> bool:
    """swag.IsFloat64AJSONInteger: a float within +-(2**53 - 1) that is whole (to a relative 1e-9)."""
    if not math.isfinite(value) or abs(value) > _MAX_JSON_FLOAT:
        return False
    rounded = float(round(value))
    if value == rounded:
        return True
    return rounded != 0 and abs(value - rounded) < 1e-9 * abs(rounded)


def _data_format(value: Any) -> str:
    """The format kube-openapi's typeValidator infers from a decoded JSON value (schemaInfoForType)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return ""


def _declared_types(schema: Schema) -> list[str]:
    if schema.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    declared = schema.get("type")
    if not declared:
        return []
    return list(declared) if isinstance(declared, list) else [declared]


class _Walk:
    """One validation pass; collects errors in the order the API server reports them."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def node(self, value: Any, schema: Schema, path: str) -> None:
        """kube-openapi SchemaValidator.Validate: type, value combinators, string, format, number,
        array, enum, object, each applying only to values of its kind."""
        declared = _declared_types(schema)
        actual = _json_type(value)
        if value is None:
            if declared and "null" not in declared and not schema.get("nullable"):
                self._type_error(path, declared, "null")
            self._enum(value, schema, path)
            return
        if declared:
            integral_float = actual == "number" and _is_json_integer(float(value)) and "integer" in declared
            int_as_number = actual == "integer" and "number" in declared
            matches = actual in declared or integral_float or int_as_number
            fmt = schema.get("format") if isinstance(schema.get("format"), str) else ""
            if fmt and not isinstance(value, str | list) and not matches and _data_format(value) != fmt:
                # typeValidator: a formatted node names its format, and the value's Go format
                self._type_error(path, [fmt], _data_format(value))
            elif fmt and not {"integer", "number"} & set(declared) and isinstance(value, str | list):
                pass  # typeValidator lets a string or an array through a formatted non-numeric node
            elif not matches:
                self._type_error(path, declared, actual)
        self._combinators(value, schema, path)
        if isinstance(value, str):
            self._string(value, schema, path)
            self._format(value, schema, path)
        if actual in ("integer", "number"):
            self._number(value, schema, path)
        if isinstance(value, list):
            self._array(value, schema, path)
        self._enum(value, schema, path)
        if isinstance(value, Mapping):
            self._object(value, schema, path)

    def _type_error(self, path: str, declared: list[str], actual: str) -> None:
        detail = f"{path} in body must be of type {','.join(declared)}: {_go_quote(actual)}"
        self.errors.append(_error(TYPE_INVALID, path, actual, detail))

    def _string(self, value: str, schema: Schema, path: str) -> None:
        max_length = schema.get("maxLength")
        if max_length is not None and len(value) > max_length:
            self.errors.append(_too_long(path, int(max_length)))
        min_length = schema.get("minLength")
        if min_length is not None and len(value) < min_length:
            detail = f"{path} in body should be at least {min_length} chars long"
            self.errors.append(_error(INVALID, path, value, detail))
        pattern = schema.get("pattern")
        if pattern is not None and not _regex(pattern).search(value):
            detail = f"{path} in body should match '{pattern}'"
            self.errors.append(_error(INVALID, path, value, detail))

    def _format(self, value: str, schema: Schema, path: str) -> None:
        name = schema.get("format")
        check = _FORMATS.get(name) if isinstance(name, str) else None
        if check is not None and not check(value):
            detail = f"{path} in body must be of type {name}: {_go_quote(value)}"
            self.errors.append(_error(TYPE_INVALID, path, value, detail))

    def _number(self, value: float, schema: Schema, path: str) -> None:
        """numberValidator: the value's range for the node's type and format, multipleOf, then
        minimum before maximum (the order kube-openapi merges them in)."""
        self._checked(value, schema, path)
        factor = schema.get("multipleOf")
        if factor is not None and factor > 0 and not _is_multiple(value, factor):
            detail = f"{path} in body should be a multiple of {_limit(factor)}"
            self.errors.append(_error(INVALID, path, value, detail))
        minimum = schema.get("minimum")
        if minimum is not None:
            exclusive = bool(schema.get("exclusiveMinimum"))
            if value < minimum or (exclusive and value == minimum):
                words = "greater than" if exclusive else "greater than or equal to"
                detail = f"{path} in body should be {words} {_limit(minimum)}"
                self.errors.append(_error(INVALID, path, value, detail))
        maximum = schema.get("maximum")
        if maximum is not None:
            exclusive = bool(schema.get("exclusiveMaximum"))
            if value > maximum or (exclusive and value == maximum):
                words = "less than" if exclusive else "less than or equal to"
                detail = f"{path} in body should be {words} {_limit(maximum)}"
                self.errors.append(_error(INVALID, path, value, detail))

    def _checked(self, value: float, schema: Schema, path: str) -> None:
        """IsValueValidAgainstRange: an ``integer`` node takes only whole numbers in the range of its
        format (int32, else int64), a ``number`` node with format ``float`` only float32 values. The
        error is a plain one, so the API server reports it with no field path and an empty value."""
        declared = schema.get("type")
        if declared not in ("integer", "number"):
            return
        fmt = schema.get("format")
        if declared == "integer":
            fmt = fmt if fmt in ("int32", "int64") else ""
            low, high = (-(2**31), 2**31 - 1) if fmt == "int32" else (-(2**63), 2**63 - 1)
            whole = isinstance(value, int) or (math.isfinite(value) and float(value).is_integer())
            fits = whole and low <= int(value) <= high
        else:
            fmt = fmt if fmt in ("float", "double") else ""
            fits = fmt != "float" or not math.isfinite(value) or abs(value) <= _MAX_FLOAT32
        if not fits:
            shape = f"with format {fmt}" if fmt else "(default format)"
            detail = f"Checked value must be of type {declared} {shape} in {path}"
            self.errors.append(_error(INVALID, "", "", detail))

    def _array(self, value: list[Any], schema: Schema, path: str) -> None:
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                self.node(item, items, f"{path}[{index}]")
        min_items = schema.get("minItems")
        if min_items is not None and len(value) < min_items:
            detail = f"{path} in body should have at least {min_items} items"
            self.errors.append(_error(INVALID, path, len(value), detail))
        max_items = schema.get("maxItems")
        if max_items is not None and len(value) > max_items:
            self.errors.append(_too_many(path, len(value), int(max_items)))
        if schema.get("uniqueItems"):
            seen: list[Any] = []
            for item in value:
                if any(_equal(item, other) for other in seen):
                    detail = f"{path} in body shouldn't contain duplicates"
                    self.errors.append(_error(INVALID, path, "", detail))
                    break
                seen.append(item)

    def _enum(self, value: Any, schema: Schema, path: str) -> None:
        allowed = schema.get("enum")
        if allowed and not any(_equal(value, option) for option in allowed):
            self.errors.append(_not_supported(path, value, allowed))

    def _object(self, value: Mapping[str, Any], schema: Schema, path: str) -> None:
        count = len(value)
        min_props = schema.get("minProperties")
        if min_props is not None and count < min_props:
            detail = f"{path} in body should have at least {min_props} properties"
            self.errors.append(_error(INVALID, path, count, detail))
            return
        max_props = schema.get("maxProperties")
        if max_props is not None and count > max_props:
            self.errors.append(_too_many(path, count, int(max_props)))
            return
        properties: Mapping[str, Schema] = schema.get("properties") or {}
        extra = _additional(schema)
        if schema.get("additionalProperties") is False:
            for key in value:
                if key not in properties:
                    detail = f"{path}.{key} in body is a forbidden property"
                    self.errors.append(_error(INVALID, path, key, detail))
        elif extra is not None:
            for key, item in value.items():
                if key not in properties:
                    self.node(item, extra, _join(path, key))
        for key, sub in properties.items():
            if key in value:
                self.node(value[key], sub, _join(path, key))
        for key in schema.get("required") or []:
            if key not in value:
                self.errors.append(_error(REQUIRED, _join(path, key)))

    def _combinators(self, value: Any, schema: Schema, path: str) -> None:
        """allOf / anyOf / oneOf / not. In structural schemas these carry value validations only;
        their summary errors have no field path, as in the API server."""
        shown = _go_quote(path)
        any_of = schema.get("anyOf")
        if any_of:
            results = [self._trial(value, sub, path) for sub in any_of]
            if all(results):
                self.errors.append(
                    _error(INVALID, "", "", f"{shown} must validate at least one schema (anyOf)")
                )
                self.errors.extend(_fewest(results))
        one_of = schema.get("oneOf")
        if one_of:
            results = [self._trial(value, sub, path) for sub in one_of]
            passed = sum(1 for r in results if not r)
            if passed != 1:
                extra = "Found none valid" if passed == 0 else f"Found {passed} valid alternatives"
                detail = f"{shown} must validate one and only one schema (oneOf). {extra}"
                self.errors.append(_error(INVALID, "", "", detail))
                if passed == 0:
                    self.errors.extend(_fewest(results))
        all_of = schema.get("allOf")
        if all_of:
            results = [self._trial(value, sub, path) for sub in all_of]
            for result in results:
                self.errors.extend(result)
            failed = sum(1 for r in results if r)
            if failed:
                extra = ". None validated" if failed == len(results) else ""
                detail = f"{shown} must validate all the schemas (allOf){extra}"
                self.errors.append(_error(INVALID, "", "", detail))
        negated = schema.get("not")
        if isinstance(negated, Mapping) and not self._trial(value, negated, path):
            self.errors.append(_error(INVALID, "", "", f"{shown} must not validate the schema (not)"))

    @staticmethod
    def _trial(value: Any, schema: Schema, path: str) -> list[FieldError]:
        walk = _Walk()
        walk.node(value, schema, path)
        return walk.errors


def _fewest(results: list[list[FieldError]]) -> list[FieldError]:
    """The failures of the alternative that came closest (kube-openapi keeps its best match)."""
    return min(results, key=len)


def _equal(left: Any, right: Any) -> bool:
    """JSON equality: booleans are not numbers, 1 == 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return float(left) == float(right)
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and bool(left == right)


def _is_multiple(value: float, factor: float) -> bool:
    if isinstance(value, int) and isinstance(factor, int):
        return value % factor == 0
    quotient = value / factor
    return abs(quotient - round(quotient)) < 1e-9


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        compiled = _REGEX_CACHE[pattern] = re.compile(pattern)
    return compiled


# --- formats the API server checks (strfmt.Default minus the ones apiextensions strips) ----------

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
_GO_DURATION = re.compile(
    r"^[-+]?(\d+(\.\d*)?(ns|us|µs|ms|s|m|h|d|w)\s*)+$|^\d+\s*(d|day|days|w|week|weeks)$"
)


def _is_date_time(text: str) -> bool:
    match = _DATE_TIME.match(text)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        dt.datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    return second <= 60


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _is_byte(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _is_ip(version: int) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            return ipaddress.ip_address(text).version == version
        except ValueError:
            return False

    return check


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _is_date_time,
    "datetime": _is_date_time,
    "date": _is_date,
    "byte": _is_byte,
    "uuid": _is_uuid,
    "uuid3": _is_uuid,
    "uuid4": _is_uuid,
    "uuid5": _is_uuid,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "cidr": _is_cidr,
    "hostname": lambda text: bool(_HOSTNAME.match(text)),
    "email": lambda text: bool(_EMAIL.match(text)),
    "mac": lambda text: bool(_MAC.match(text)),
    "duration": lambda text: bool(_GO_DURATION.match(text)),
}


# --- list types (structurallisttype.ValidateListSetsAndMaps) -------------------------------------


def _list_types(value: Any, schema: Schema | None, path: str, errors: list[FieldError]) -> None:
    if schema is None:
        return
    if isinstance(value, Mapping):
        properties: Mapping[str, Schema] = schema.get("properties") or {}
        extra = _additional(schema)
        for key, item in value.items():
            sub = properties.get(key, extra)
            _list_types(item, sub, _join(path, key) if key in properties else f"{path}[{key}]", errors)
    elif isinstance(value, list):
        kind = schema.get("x-kubernetes-list-type")
        if kind == "set":
            for index in _repeats(value):
                errors.append(_error(DUPLICATE, f"{path}[{index}]", value[index]))
        elif kind == "map":
            errors.extend(_list_map_errors(value, schema, path))
        items = schema.get("items")
        for index, item in enumerate(value):
            _list_types(item, items, f"{path}[{index}]", errors)


_UNSPECIFIED = object()  # a list-type map item without its key


def _set_key(value: Any) -> Any:
    """How validateListSet tells items apart: objects and arrays by their JSON, scalars by Go type
    and value (so ``1`` and ``1.0``, an int64 and a float64, are different items)."""
    if isinstance(value, Mapping | list):
        return ("json", _go_json(value))
    if value is _UNSPECIFIED:
        return ("unspecified",)
    return (type(value).__name__, value)


def _repeats(values: Sequence[Any]) -> list[int]:
    """The index of the second appearance of each repeated item (the API server reports no more)."""
    counts: dict[Any, int] = {}
    found = []
    for index, value in enumerate(values):
        key = _set_key(value)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] == 2:
            found.append(index)
    return found


def _list_map_errors(value: list[Any], schema: Schema, path: str) -> list[FieldError]:
    """validateListMap: items must be objects; duplicates by their map keys."""
    for index, item in enumerate(value):
        if item is not None and not isinstance(item, Mapping):
            return [
                _error(INVALID, f"{path}[{index}]", item, "must be an object for an array of list-type map")
            ]
    keys: list[str] = list(schema.get("x-kubernetes-list-map-keys") or [])
    if len(keys) == 1:
        single = [
            item.get(keys[0], _UNSPECIFIED) if isinstance(item, Mapping) else _UNSPECIFIED for item in value
        ]
        return [
            _error(DUPLICATE, f"{path}[{i}]", {} if single[i] is _UNSPECIFIED else {keys[0]: single[i]})
            for i in _repeats(single)
        ]
    identities = [
        {k: item[k] for k in keys if k in item} if isinstance(item, Mapping) else {} for item in value
    ]
    return [_error(DUPLICATE, f"{path}[{i}]", identities[i]) for i in _repeats(identities)]


# --- CEL (x-kubernetes-validations) ---------------------------------------------------------------


def _is_sorted(values: Sequence[Any]) -> celtypes.BoolType:
    return celtypes.BoolType(all(values[i] <= values[i + 1] for i in range(len(values) - 1)))


def _index_of(target: Any, needle: Any) -> celtypes.IntType:
    if isinstance(target, celtypes.StringType):
        return celtypes.IntType(str(target).find(str(needle)))
    for index, item in enumerate(target):
        if item == needle:
            return celtypes.IntType(index)
    return celtypes.IntType(-1)


def _last_index_of(target: Any, needle: Any) -> celtypes.IntType:
    if isinstance(target, celtypes.StringType):
        return celtypes.IntType(str(target).rfind(str(needle)))
    for index in range(len(target) - 1, -1, -1):
        if target[index] == needle:
            return celtypes.IntType(index)
    return celtypes.IntType(-1)


def _cel_sum(values: Sequence[Any]) -> Any:
    return functools.reduce(operator.add, values) if len(values) else celtypes.IntType(0)


# Kubernetes' CEL libraries (lists, a few of strings) that cel-python lacks.
_CEL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isSorted": _is_sorted,
    "sum": _cel_sum,
    "min": min,
    "max": max,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": lambda text: celtypes.StringType(str(text).lower()),
    "upperAscii": lambda text: celtypes.StringType(str(text).upper()),
    "trim": lambda text: celtypes.StringType(str(text).strip()),
    "join": lambda values, sep="": celtypes.StringType(str(sep).join(str(v) for v in values)),
    "split": lambda text, sep: celtypes.ListType([celtypes.StringType(p) for p in str(text).split(str(sep))]),
}
_CEL_ENV = celpy.Environment()
_CEL_CACHE: dict[str, Any] = {}
_OLD_SELF = re.compile(r"\boldSelf\b")


def _cel_program(expression: str) -> Any:
    """Compile once per expression; raises CELParseError on a bad rule."""
    program = _CEL_CACHE.get(expression)
    if program is None:
        program = _CEL_ENV.program(_CEL_ENV.compile(expression), functions=_CEL_FUNCTIONS)
        _CEL_CACHE[expression] = program
    return program


def _to_cel(value: Any, schema: Schema | None, root: bool = False) -> Any:
    """A JSON value as the CEL value Kubernetes binds: typed by the schema (``number`` is a double
    even when written as 1), maps keyed by strings, root metadata reduced to name/generateName."""
    if value is None:
        return None
    if schema is None or (_preserves(schema) and not schema.get("properties")):
        return json_to_cel(value)
    declared = _declared_types(schema)
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int | float) and "number" in declared:
        return celtypes.DoubleType(float(value))
    if isinstance(value, float) and value.is_integer() and "integer" in declared:
        return celtypes.IntType(int(value))
    if isinstance(value, Mapping):
        properties: Mapping[str, Schema] = schema.get("properties") or {}
        extra = _additional(schema)
        converted: dict[Any, Any] = {}
        for key, item in value.items():
            if root and key == "metadata" and isinstance(item, Mapping):
                kept = {k: v for k, v in item.items() if k in ("name", "generateName")}
                converted[celtypes.StringType(key)] = json_to_cel(kept)
                continue
            sub = properties.get(key, extra)
            converted[celtypes.StringType(key)] = _to_cel(item, sub)
        return celtypes.MapType(converted)
    if isinstance(value, list):
        items = schema.get("items")
        return celtypes.ListType([_to_cel(item, items) for item in value])
    return json_to_cel(value)


def _schema_type_name(value: Any, schema: Schema) -> str:
    declared = _declared_types(schema)
    if len(declared) == 1:
        return declared[0]
    return _json_type(value)


def _rule_path(path: str, field_path: str) -> str:
    """A rule's ``fieldPath`` (``.spec.x``, ``.x['y']``) appended to the node's path."""
    if not field_path:
        return path
    relative = re.sub(r"\['([^']*)'\]", r".\1", field_path).lstrip(".")
    return _join(path, relative)


class _Rules:
    """Evaluates x-kubernetes-validations over the object, like the apiextensions CEL validator."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def walk(self, value: Any, old: Any, schema: Schema | None, path: str, root: bool = False) -> None:
        if schema is None or value is None:
            return
        if schema.get("x-kubernetes-validations"):
            self._evaluate(value, old, schema, path, root)
        if isinstance(value, Mapping):
            properties: Mapping[str, Schema] = schema.get("properties") or {}
            extra = _additional(schema)
            old_map = old if isinstance(old, Mapping) else {}
            for key, item in value.items():
                if root and key == "metadata":
                    continue
                if key in properties:
                    self.walk(item, old_map.get(key), properties[key], _join(path, key))
                elif extra is not None:
                    self.walk(item, old_map.get(key), extra, f"{path}[{key}]")
        elif isinstance(value, list):
            items = schema.get("items")
            olds = _correlate(value, old, schema)
            for index, item in enumerate(value):
                self.walk(item, olds[index], items, f"{path}[{index}]")

    def _evaluate(self, value: Any, old: Any, schema: Schema, path: str, root: bool) -> None:
        rules: Sequence[Mapping[str, Any]] = schema.get("x-kubernetes-validations") or []
        type_name = _schema_type_name(value, schema)
        activation: dict[str, Any] | None = None
        for rule in rules:
            expression = str(rule.get("rule", ""))
            transition = bool(_OLD_SELF.search(expression))
            if transition and old is None:
                continue  # transition rules need a correlated old value, as in the API server
            if activation is None:
                activation = {"self": _to_cel(value, schema, root)}
            if transition and "oldSelf" not in activation:
                activation["oldSelf"] = _to_cel(old, schema, root)
            shown = str(rule.get("message") or "").strip() or expression.strip()
            target = _rule_path(path, str(rule.get("fieldPath") or ""))
            try:
                result = _cel_program(expression).evaluate(activation)
            except CELParseError:
                continue  # syntax cel-python lacks (the API server accepted the CRD): not checked
            except Exception as exc:  # cel-python raises its evaluation errors from several places
                if not _engine_gap(exc):
                    self.errors.append(
                        _error(INVALID, path, type_name, f"{_cel_error(exc)} evaluating rule: {shown}")
                    )
                continue
            if isinstance(result, CELEvalError):
                if _engine_gap(result):
                    continue
                self.errors.append(
                    _error(INVALID, path, type_name, f"{_cel_error(result)} evaluating rule: {shown}")
                )
                continue
            if result is True or (isinstance(result, celtypes.BoolType) and bool(result)):
                continue
            detail = self._message(rule, activation) or (
                str(rule["message"]).strip() if rule.get("message") else f"failed rule: {expression.strip()}"
            )
            # the bad value shown: the scalar itself, nothing for an object or an array (v1.37)
            shown_value = _OMITTED if _declared_types(schema)[:1] in (["object"], ["array"]) else value
            reason = str(rule.get("reason") or INVALID)
            if reason == FORBIDDEN:
                self.errors.append(_error(FORBIDDEN, target, detail=detail))
            elif reason == REQUIRED:
                self.errors.append(_error(REQUIRED, target, detail=detail))
            elif reason == DUPLICATE:
                self.errors.append(_error(DUPLICATE, target, shown_value))
            else:
                self.errors.append(_error(INVALID, target, shown_value, detail))

    @staticmethod
    def _message(rule: Mapping[str, Any], activation: dict[str, Any]) -> str:
        expression = rule.get("messageExpression")
        if not expression:
            return ""
        try:
            produced = _cel_program(str(expression)).evaluate(activation)
        except Exception:  # the API server falls back to the static message, so do we
            return ""
        text = produced if isinstance(produced, str) else ""  # cel-python may hand back a plain str
        return "" if not text.strip() or "\n" in text else text


def _engine_gap(exc: Any) -> bool:
    """A function or macro Kubernetes has and cel-python lacks (e.g. ``url()``, ``quantity()``):
    the rule is left unchecked rather than failing objects the API server would accept."""
    args = getattr(exc, "args", ())
    text = args[0] if args and isinstance(args[0], str) else str(exc)
    return "undeclared reference" in text


def _cel_error(exc: Any) -> str:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], str):
        message = args[0]
        if message.startswith("no such member in mapping: "):
            return "no such key: " + message.removeprefix("no such member in mapping: ").strip("'")
        if "no matching overload" in message or "no such overload" in message:
            return "no such overload"
        return message.split(" (in activation", 1)[0]
    return str(exc)


def _correlate(value: list[Any], old: Any, schema: Schema) -> list[Any]:
    """Old items matching each new item: only ``list-type: map`` items correlate, by their keys."""
    if not isinstance(old, list) or schema.get("x-kubernetes-list-type") != "map":
        return [None] * len(value)
    keys = schema.get("x-kubernetes-list-map-keys") or []

    def identity(item: Any) -> Any:
        return json.dumps([item.get(k) for k in keys], sort_keys=True) if isinstance(item, Mapping) else None

    by_key = {identity(item): item for item in old}
    return [by_key.get(identity(item)) for item in value]


# --- the public entry points -----------------------------------------------------------------------


def validate(schema: Schema, obj: Any, old: Any = None) -> list[FieldError]:
    """Validate a (pruned, defaulted) custom object against ``schema`` as the API server does.

    OpenAPI keywords first (type, nullable, enum, required, bounds, lengths, pattern, items,
    format, additionalProperties, allOf/anyOf/oneOf/not, x-kubernetes-int-or-string), then
    ``x-kubernetes-list-type`` set/map uniqueness, then the ``x-kubernetes-validations`` CEL rules
    unless a blocking error (type, required, enum, too long, too many) came before, in which case
    one ``<nil>`` error says the rules were not checked. ``old`` (the stored object on update)
    enables transition rules that use ``oldSelf``. Returns an empty list when the object is valid.
    """
    walk = _Walk()
    walk.node(obj, schema, "")
    errors = walk.errors + _list_errors(schema, obj, old)
    if not _has_rules(schema):
        return errors
    if any(e.reason in _BLOCKING for e in errors):
        errors.append(_error(INVALID, "", None, _NOT_CHECKED))
        return errors
    rules = _Rules()
    rules.walk(obj, old, schema, "", root=True)
    return errors + rules.errors


def validate_status(schema: Schema, obj: Any, old: Any = None) -> list[FieldError]:
    """Validate a write through the ``status`` subresource as the API server does
    (``ValidateStatusUpdate``): only ``status`` is checked against the OpenAPI keywords, by a validator
    rooted at the status schema, so a message names the path inside status (``canaryWeight in body
    should be ...``) while the field path starts with ``status`` (``status.canaryWeight``); then the
    list types and the CEL rules of the whole object, as on any write."""
    walk = _Walk()
    status_schema = (schema.get("properties") or {}).get("status")
    if isinstance(obj, Mapping) and "status" in obj and isinstance(status_schema, Mapping):
        walk.node(obj["status"], status_schema, "")
    errors = [_under_status(e) for e in walk.errors] + _list_errors(schema, obj, old)
    if not _has_rules(schema):
        return errors
    if any(e.reason in _BLOCKING for e in errors):
        errors.append(_error(INVALID, "", None, _NOT_CHECKED))
        return errors
    rules = _Rules()
    rules.walk(obj, old, schema, "", root=True)
    return errors + rules.errors


def _list_errors(schema: Schema, obj: Any, old: Any) -> list[FieldError]:
    """x-kubernetes-list-type set/map uniqueness, ratcheted on update as the API server does: when
    the stored object already breaks it, the new one is not checked."""
    if old is not None:
        before: list[FieldError] = []
        _list_types(old, schema, "", before)
        if before:
            return []
    errors: list[FieldError] = []
    _list_types(obj, schema, "", errors)
    return errors


def _under_status(error: FieldError) -> FieldError:
    """An error of the status validator: its field path below ``status`` (``status`` itself for the
    errors that name no field, as ``kubeOpenAPIResultToFieldErrors`` roots them)."""
    if error.field == "<nil>":
        return FieldError("status", error.reason, error.message)
    joiner = "" if error.field.startswith("[") else "."
    return FieldError(f"status{joiner}{error.field}", error.reason, error.message)


def admit(schema: Schema, obj: dict[str, Any], old: Any = None) -> tuple[list[str], list[FieldError]]:
    """Prune, default and validate ``obj`` in place, in the API server's order.

    Returns ``(unknown_field_paths, errors)``.
    """
    unknown = prune(schema, obj)
    apply_defaults(schema, obj)
    return unknown, validate(schema, obj, old)


def _has_rules(schema: Any) -> bool:
    return any(
        isinstance(node, Mapping) and node.get("x-kubernetes-validations") for node, _ in _nodes(schema, "")
    )


def _nodes(schema: Any, path: str) -> Iterator[tuple[Schema, str]]:
    """Every schema node with its CRD field path (``properties[spec].items``...)."""
    if not isinstance(schema, Mapping):
        return
    yield schema, path
    for key, sub in (schema.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}.properties[{key}]")
    for word in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(word), Mapping):
            yield from _nodes(schema[word], f"{path}.{word}")
    for word in ("allOf", "anyOf", "oneOf"):
        for index, sub in enumerate(schema.get(word) or []):
            yield from _nodes(sub, f"{path}.{word}[{index}]")


# --- CRD checks (a subset of apiextensions validation, structural schema rules included) ---------

_FORBIDDEN_KEYWORDS = {
    "$ref": "$ref is not supported",
    "definitions": "definitions are not supported",
    "dependencies": "dependencies are not supported",
    "patternProperties": "patternProperties is not supported",
    "additionalItems": "additionalItems cannot be set to false",
    "id": "id is not supported",
    "$schema": "$schema is not supported",
}
_VALUE_VALIDATION_ONLY = (
    "description", "type", "default", "additionalProperties", "nullable",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
)  # fmt: skip
_COLUMN_TYPES = ("integer", "number", "string", "boolean", "date")


def validate_crd(crd: Mapping[str, Any], *, check_cel: bool = False) -> list[FieldError]:
    """Check a CustomResourceDefinition the way the API server does on create (main rules):
    names, scope, versions and storage, printer columns, subresources and, per version, that the
    schema is structural (every node typed, no forbidden keywords, metadata limited to
    name/generateName), and that defaults validate and survive pruning.

    With ``check_cel``, every ``x-kubernetes-validations`` rule must also compile in cel-python.
    That is off by default because CRDs from other projects use CEL syntax cel-python cannot
    parse, which the real API server accepts; Serinus' own CRD tests switch it on."""
    errors: list[FieldError] = []
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1":
        errors.append(_not_supported("apiVersion", crd.get("apiVersion"), ["apiextensions.k8s.io/v1"]))
    spec = crd.get("spec") or {}
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    for required in ("plural", "kind"):
        if not names.get(required):
            errors.append(_error(REQUIRED, f"spec.names.{required}"))
    if not group:
        errors.append(_error(REQUIRED, "spec.group"))
    expected = f"{names.get('plural')}.{group}"
    if crd.get("metadata", {}).get("name") != expected:
        detail = 'must be spec.names.plural+"."+spec.group'
        errors.append(_error(INVALID, "metadata.name", crd.get("metadata", {}).get("name"), detail))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errors.append(_not_supported("spec.scope", spec.get("scope"), ["Cluster", "Namespaced"]))
    versions = spec.get("versions") or []
    if not versions:
        errors.append(
            _error(
                REQUIRED, "spec.versions", detail="must have exactly one version marked as storage version"
            )
        )
    if sum(1 for v in versions if v.get("storage")) != 1:
        detail = "must have exactly one version marked as storage version"
        errors.append(_error(INVALID, "spec.versions", "", detail))
    # The API server converts a v1 CRD to its internal form first: what every version has alike
    # (schema, printer columns, subresources) moves to spec.validation, spec.additionalPrinterColumns
    # and spec.subresources, so it is checked once and reported under those paths.
    shared_schema = _alike(versions, lambda v: (v.get("schema") or {}).get("openAPIV3Schema"))
    shared_columns = _alike(versions, lambda v: v.get("additionalPrinterColumns"))
    shared_subresources = _alike(versions, lambda v: v.get("subresources"))
    for index, version in enumerate(versions):
        base = f"spec.versions[{index}]"
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            errors.append(_error(REQUIRED, f"{base}.schema.openAPIV3Schema", detail="schemas are required"))
        elif not shared_schema:
            errors.extend(_structural(schema, f"{base}.schema.openAPIV3Schema", check_cel))
        elif index == 0:
            errors.extend(_structural(schema, "spec.validation.openAPIV3Schema", check_cel))
        if not shared_columns or index == 0:
            where = "spec" if shared_columns else base
            errors.extend(_printer_columns(version.get("additionalPrinterColumns") or [], where))
        status = (version.get("subresources") or {}).get("status")
        if status not in (None, {}) and (not shared_subresources or index == 0):
            where = "spec" if shared_subresources else base
            errors.append(_error(INVALID, f"{where}.subresources.status", status, "must be an empty object"))
    return errors


def _alike(versions: Sequence[Mapping[str, Any]], part: Callable[[Mapping[str, Any]], Any]) -> bool:
    """Every version has the same `part` (then the internal CRD holds it once, at the top)."""
    values = [part(v) for v in versions]
    return bool(values) and all(v == values[0] for v in values)


def _printer_columns(columns: Sequence[Mapping[str, Any]], where: str) -> list[FieldError]:
    """ValidateCustomResourceColumnDefinition, at `where`.additionalPrinterColumns[i]."""
    errors: list[FieldError] = []
    kinds = ",".join(sorted(_COLUMN_TYPES))
    for index, column in enumerate(columns):
        path = f"{where}.additionalPrinterColumns[{index}]"
        if not column.get("name"):
            errors.append(_error(REQUIRED, f"{path}.name"))
        if not column.get("type"):
            errors.append(_error(REQUIRED, f"{path}.type", detail=f"must be one of {kinds}"))
        elif column.get("type") not in _COLUMN_TYPES:
            errors.append(_error(INVALID, f"{path}.type", column.get("type"), f"must be one of {kinds}"))
        json_path = str(column.get("jsonPath") or "")
        if not json_path:
            errors.append(_error(REQUIRED, f"{path}.JSONPath"))
        elif not json_path.startswith("."):
            errors.append(
                _error(INVALID, f"{path}.JSONPath", json_path, "must be a simple json path starting with .")
            )
    return errors


def _structural(schema: Schema, base: str, check_cel: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    if not schema.get("type"):
        errors.append(_error(REQUIRED, f"{base}.type", detail="must not be empty at the root"))
    elif schema.get("type") != "object":
        errors.append(_error(INVALID, f"{base}.type", schema.get("type"), "must be object at the root"))
    if "additionalProperties" in schema:
        errors.append(
            _error(FORBIDDEN, f"{base}.additionalProperties", detail="must not be used at the root")
        )
    meta = (schema.get("properties") or {}).get("metadata")
    if isinstance(meta, Mapping):
        allowed = {"type", "description", "properties"}
        extra_props = set(meta.get("properties") or {}) - {"name", "generateName"}
        if set(meta) - allowed or extra_props:
            detail = (
                "must not specify anything other than name and generateName, "
                "but metadata is implicitly specified"
            )
            errors.append(_error(FORBIDDEN, f"{base}.properties[metadata]", detail=detail))
    # x-kubernetes-int-or-string may spell its two types out as anyOf: [{type: integer}, {type: string}]
    int_or_string = {
        f"{path}.{word}[{i}]"
        for node, path in _nodes(schema, base)
        if node.get("x-kubernetes-int-or-string")
        for word in ("anyOf", "allOf")
        for i in range(len(node.get(word) or []))
    }
    for node, path in _nodes(schema, base):
        in_combinator = any(part in path for part in ("allOf[", "anyOf[", "oneOf[", ".not"))
        if in_combinator:
            for word in _VALUE_VALIDATION_ONLY:
                if word in node and not (path in int_or_string and word == "type"):
                    errors.append(
                        _error(FORBIDDEN, f"{path}.{word}", detail="must be empty to be structural")
                    )
            continue
        errors.extend(_structural_node(node, path, check_cel, root=path == base))
    return errors


def _structural_node(node: Schema, path: str, check_cel: bool, *, root: bool = False) -> list[FieldError]:
    errors: list[FieldError] = []
    typed = node.get("type")
    if node.get("x-kubernetes-int-or-string"):
        if typed:
            errors.append(
                _error(
                    FORBIDDEN, f"{path}.type", detail="must be empty if x-kubernetes-int-or-string is true"
                )
            )
    elif not typed and not _preserves(node) and not root:  # the root's own message: _structural
        errors.append(
            _error(REQUIRED, f"{path}.type", detail="must not be empty for specified object fields")
        )
    for word, detail in _FORBIDDEN_KEYWORDS.items():
        if word in node:
            errors.append(_error(FORBIDDEN, f"{path}.{word}", detail=detail))
    if node.get("uniqueItems"):
        detail = "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
        errors.append(_error(FORBIDDEN, f"{path}.uniqueItems", detail=detail))
    if node.get("properties") and node.get("additionalProperties") not in (None, True):
        detail = "additionalProperties and properties are mutual exclusive"
        errors.append(_error(FORBIDDEN, f"{path}.additionalProperties", detail=detail))
    if typed == "array" and not isinstance(node.get("items"), Mapping):
        errors.append(_error(REQUIRED, f"{path}.items", detail="must be specified"))
    list_type = node.get("x-kubernetes-list-type")
    if list_type is not None:
        if list_type not in ("atomic", "set", "map"):
            errors.append(
                _not_supported(f"{path}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"])
            )
        if list_type == "map":
            keys = node.get("x-kubernetes-list-map-keys") or []
            item_props = (node.get("items") or {}).get("properties") or {}
            item_required = (node.get("items") or {}).get("required") or []
            if not keys:
                errors.append(
                    _error(
                        REQUIRED,
                        f"{path}.x-kubernetes-list-map-keys",
                        detail="must not be empty if x-kubernetes-list-type is map",
                    )
                )
            for key in keys:
                if key not in item_props:
                    errors.append(_error(REQUIRED, f"{path}.items.properties[{key}]", detail="must exist"))
                elif key not in item_required and "default" not in item_props[key]:
                    detail = "all map keys must be required or have a default value"
                    errors.append(_error(REQUIRED, f"{path}.items.required", detail=detail))
    if "default" in node:
        errors.extend(_check_default(node, path))
    for index, rule in enumerate(node.get("x-kubernetes-validations") or []):
        expression = str(rule.get("rule") or "")
        if not expression:
            errors.append(_error(REQUIRED, f"{path}.x-kubernetes-validations[{index}].rule"))
            continue
        if not check_cel:
            continue
        try:
            _cel_program(expression)
        except Exception as exc:  # any compile failure is a bad CRD
            detail = f"compilation failed: {str(exc).splitlines()[0]}"
            errors.append(
                _error(INVALID, f"{path}.x-kubernetes-validations[{index}].rule", expression, detail)
            )
    return errors


def _check_default(node: Schema, path: str) -> list[FieldError]:
    """A default must validate against its own schema and be unchanged by pruning."""
    value = copy.deepcopy(node["default"])
    holder = {"v": value}
    dropped = prune({"type": "object", "properties": {"v": node}}, holder)
    errors = []
    if dropped:
        errors.append(_error(INVALID, f"{path}.default", node["default"], "must not have unknown fields"))
    for err in _trial_default(node, value):
        # the default's own errors, their field under .default, their message as the validator wrote it
        inner = err.field.removeprefix("<nil>")
        joiner = "" if not inner or inner.startswith("[") else "."
        errors.append(FieldError(f"{path}.default{joiner}{inner}", err.reason, err.message))
    return errors


def _trial_default(node: Schema, value: Any) -> list[FieldError]:
    walk = _Walk()
    walk.node(value, node, "")
    return walk.errors
