"""A small protobuf encoder driven by the decoder's own tables, for round-trip and error tests.

It writes a JSON-shaped object back to the Kubernetes wire format: fields in number order, zero
scalars skipped unless the field is `always`, timestamps parsed from RFC 3339. It is test support,
not part of the emulator.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from sandbox.apiserver.protobuf import KINDS, MAGIC, MESSAGES, Field, T


def varint(value: int) -> bytes:
    """Base-128 varint; negative numbers as 10-byte two's complement, as Go writes int32/int64."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def encode_message(obj: dict[str, Any], message: str) -> bytes:
    """Encode the fields of `obj` that `message` defines (inline messages take theirs from `obj` too)."""
    out = bytearray()
    for number, field in sorted(MESSAGES[message].items()):
        if field.type is T.INLINE:
            inner = encode_message(obj, field.message)
            if inner:
                out += length_delimited(number, inner)
            continue
        if field.name not in obj:
            continue
        value = obj[field.name]
        if field.type is T.MAP:
            for key in sorted(value):
                entry = length_delimited(1, key.encode()) + _encode_bytes_value(
                    field.value, field.message, value[key], 2
                )
                out += length_delimited(number, entry)
        elif field.repeated:
            for item in value:
                out += _encode_one(number, field, item)
        else:
            out += _encode_one(number, field, value)
    return bytes(out)


def _encode_one(number: int, field: Field, value: Any) -> bytes:
    if field.type in (T.INT32, T.INT64, T.BOOL):
        return tag(number, 0) + varint(int(value))
    return _encode_bytes_value(field.type, field.message, value, number)


def _encode_bytes_value(kind: T | None, message: str, value: Any, number: int) -> bytes:
    if kind is T.STRING:
        return length_delimited(number, value.encode())
    if kind is T.BYTES:
        return length_delimited(number, base64.b64decode(value))
    if kind is T.MESSAGE:
        return length_delimited(number, encode_message(value, message))
    if kind is T.QUANTITY:
        return length_delimited(number, length_delimited(1, value.encode()))
    if kind is T.TIME or kind is T.MICROTIME:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        seconds = int(stamp.timestamp())
        nanos = stamp.microsecond * 1000
        payload = tag(1, 0) + varint(seconds) + (tag(2, 0) + varint(nanos) if nanos else b"")
        return length_delimited(number, payload)
    if kind is T.INT_OR_STRING:
        if isinstance(value, int):
            payload = tag(1, 0) + varint(0) + tag(2, 0) + varint(value) + length_delimited(3, b"")
        else:
            payload = tag(1, 0) + varint(1) + tag(2, 0) + varint(0) + length_delimited(3, value.encode())
        return length_delimited(number, payload)
    if kind is T.FIELDS_V1:
        return length_delimited(number, length_delimited(1, json.dumps(value).encode()))
    raise AssertionError(f"cannot encode {kind}")


def unknown(
    api_version: str, kind: str, raw: bytes, content_encoding: str = "", content_type: str = ""
) -> bytes:
    """A `k8s\\x00` + runtime.Unknown envelope around raw message bytes, as client-go writes it."""
    type_meta = length_delimited(1, api_version.encode()) + length_delimited(2, kind.encode())
    return (
        MAGIC
        + length_delimited(1, type_meta)
        + length_delimited(2, raw)
        + length_delimited(3, content_encoding.encode())
        + length_delimited(4, content_type.encode())
    )


def encode_body(obj: dict[str, Any]) -> bytes:
    """The protobuf body for a JSON-shaped object with apiVersion and kind."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return unknown(api_version, kind, encode_message(fields, KINDS[(api_version, kind)]))
