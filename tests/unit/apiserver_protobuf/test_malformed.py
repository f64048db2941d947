"""Bodies the emulator cannot read raise UnsupportedProtobuf (the API answers 415) saying what and where;
no input, however broken, crashes the decoder with another exception.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.apiserver.protobuf import MAGIC, UnsupportedProtobuf, decode_body
from tests.unit.apiserver_protobuf.encoder import encode_body, length_delimited, tag, unknown, varint

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "protobuf"
REAL_BODIES = sorted(FIXTURES.glob("*.pb"))


def configmap(raw_extra: bytes = b"") -> bytes:
    meta = length_delimited(1, b"c")
    return unknown("v1", "ConfigMap", length_delimited(1, meta) + raw_extra)


def test_unknown_kind_says_which_kind_and_to_send_json() -> None:
    body = unknown("apps/v1", "StatefulSet", length_delimited(1, length_delimited(1, b"db")))
    with pytest.raises(UnsupportedProtobuf) as exc:
        decode_body(body)
    message = str(exc.value)
    assert "apps/v1 StatefulSet" in message
    assert "not supported by the emulator" in message
    assert "JSON" in message


def test_missing_magic() -> None:
    with pytest.raises(UnsupportedProtobuf, match="magic prefix"):
        decode_body(b'{"kind": "Namespace"}')


def test_envelope_without_type_meta() -> None:
    with pytest.raises(UnsupportedProtobuf, match="no apiVersion and kind"):
        decode_body(MAGIC + length_delimited(2, b""))


def test_envelope_without_object() -> None:
    body = MAGIC + length_delimited(1, length_delimited(1, b"v1") + length_delimited(2, b"Namespace"))
    with pytest.raises(UnsupportedProtobuf, match="carries no object"):
        decode_body(body)


def test_gzip_content_encoding_is_refused() -> None:
    body = unknown("v1", "Namespace", b"", content_encoding="gzip")
    with pytest.raises(UnsupportedProtobuf, match="content encoding 'gzip'"):
        decode_body(body)


def test_json_wrapped_in_the_envelope_is_refused() -> None:
    body = unknown("v1", "Namespace", b"{}", content_type="application/json")
    with pytest.raises(UnsupportedProtobuf, match="wraps content type 'application/json'"):
        decode_body(body)


def test_truncated_varint_names_its_offset() -> None:
    body = MAGIC + b"\x0a\x80"  # tag of field 1, then a length varint that never ends
    with pytest.raises(UnsupportedProtobuf, match=r"truncated varint at offset 5"):
        decode_body(body)


def test_overlong_varint() -> None:
    with pytest.raises(UnsupportedProtobuf, match="longer than 10 bytes"):
        decode_body(MAGIC + b"\x08" + b"\xff" * 11 + b"\x01")


def test_length_past_the_end() -> None:
    with pytest.raises(UnsupportedProtobuf, match=r"declares 100 bytes, 2 left"):
        decode_body(MAGIC + b"\x0a\x64ab")


def test_group_wire_type() -> None:
    with pytest.raises(UnsupportedProtobuf, match="wire type 3"):
        decode_body(MAGIC + tag(1, 3))


def test_field_number_zero() -> None:
    with pytest.raises(UnsupportedProtobuf, match="field number 0"):
        decode_body(MAGIC + b"\x02\x00")


def test_a_known_field_with_the_wrong_wire_type() -> None:
    # ConfigMap.immutable (4) is a bool, sent here as a length-delimited value.
    with pytest.raises(
        UnsupportedProtobuf, match=r"field 4 \(.immutable\) of core.v1.ConfigMap .* wire type"
    ):
        decode_body(configmap(length_delimited(4, b"yes")))


def test_a_field_the_table_lacks_is_refused_when_it_holds_a_value() -> None:
    with pytest.raises(
        UnsupportedProtobuf, match=r"field 99 of core.v1.ConfigMap .* does not know that field"
    ):
        decode_body(configmap(length_delimited(99, b"surprise")))


def test_a_field_the_table_lacks_is_ignored_when_it_holds_its_zero_value() -> None:
    # Go writes every non-pointer field, even empty, so a newer client's empty new field must pass.
    assert decode_body(configmap(length_delimited(99, b"") + tag(98, 0) + varint(0))) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
    }


def test_nested_unknown_field_names_the_json_path() -> None:
    container = length_delimited(1, b"web") + length_delimited(90, b"x")
    pod_spec = length_delimited(2, container)
    with pytest.raises(UnsupportedProtobuf, match=r"field 90 of core.v1.Container at .spec.containers"):
        decode_body(unknown("v1", "Pod", length_delimited(2, pod_spec)))


def test_invalid_utf8_in_a_string() -> None:
    with pytest.raises(UnsupportedProtobuf, match="not valid UTF-8"):
        decode_body(unknown("v1", "Namespace", length_delimited(1, length_delimited(1, b"\xff\xfe"))))


def test_int32_overflow() -> None:
    spec = tag(1, 0) + varint(2**31)
    with pytest.raises(UnsupportedProtobuf, match="does not fit in int32"):
        decode_body(unknown("autoscaling/v1", "Scale", length_delimited(2, spec)))


def test_bad_int_or_string_type() -> None:
    port = length_delimited(4, tag(1, 0) + varint(7))  # ServicePort.targetPort with type 7
    spec = length_delimited(1, port)
    with pytest.raises(UnsupportedProtobuf, match="IntOrString type 7"):
        decode_body(unknown("v1", "Service", length_delimited(2, spec)))


def test_invalid_fields_v1_json() -> None:
    entry = length_delimited(7, length_delimited(1, b"{not json"))
    meta = length_delimited(17, entry)
    with pytest.raises(UnsupportedProtobuf, match="FieldsV1 holds invalid JSON"):
        decode_body(unknown("v1", "Namespace", length_delimited(1, meta)))


def test_map_entry_with_a_stray_field() -> None:
    entry = length_delimited(1, b"k") + length_delimited(3, b"v")
    with pytest.raises(UnsupportedProtobuf, match="entries hold key=1 and value=2 only"):
        decode_body(configmap(length_delimited(2, entry)))


def decodes_or_refuses(body: bytes) -> bool:
    """True if refused with a message; otherwise the result must be a JSON object with a type."""
    try:
        obj = decode_body(body)
    except UnsupportedProtobuf as exc:
        assert str(exc)
        return True
    assert isinstance(obj["apiVersion"], str)
    assert isinstance(obj["kind"], str)
    json.dumps(obj)  # whatever decodes is plain JSON data
    return False


@pytest.mark.parametrize("path", REAL_BODIES, ids=lambda p: p.stem)
def test_every_truncation_of_a_real_body_is_refused_cleanly(path: Path) -> None:
    body = path.read_bytes()
    refused = [decodes_or_refuses(body[:cut]) for cut in range(len(body))]
    # A cut on a field boundary can still be a well-formed shorter message; most cuts are not.
    assert sum(refused) > len(body) // 2
    assert not decodes_or_refuses(body)


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_random_bytes_after_the_magic_never_crash(payload: bytes) -> None:
    decodes_or_refuses(MAGIC + payload)


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_corrupted_real_bodies_never_crash(data: st.DataObject) -> None:
    body = bytearray(data.draw(st.sampled_from(REAL_BODIES)).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        body[data.draw(st.integers(len(MAGIC), len(body) - 1))] = data.draw(st.integers(0, 255))
    decodes_or_refuses(bytes(body))


def test_a_decodable_body_stays_decodable_after_encoding() -> None:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    assert decode_body(encode_body(obj)) == obj
