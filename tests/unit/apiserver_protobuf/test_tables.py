"""The message and kind tables are consistent: every referenced message exists, field shapes are
coherent, and no JSON name appears twice in an object (inline structs included)."""

from __future__ import annotations

from sandbox.apiserver.protobuf import KINDS, MESSAGES, T


def json_names(message: str) -> list[str]:
    names: list[str] = []
    for field in MESSAGES[message].values():
        names += json_names(field.message) if field.type is T.INLINE else [field.name]
    return names


def test_referenced_messages_exist() -> None:
    for message, schema in MESSAGES.items():
        for number, field in schema.items():
            where = f"{message}.{number}"
            if field.type in (T.MESSAGE, T.INLINE):
                assert field.message in MESSAGES, where
            if field.type is T.MAP:
                assert field.value is not None, where
                assert field.value is not T.MESSAGE or field.message in MESSAGES, where
    for kind, message in KINDS.items():
        assert message in MESSAGES, kind


def test_field_shapes() -> None:
    for message, schema in MESSAGES.items():
        for number, field in schema.items():
            where = f"{message}.{number}"
            assert number > 0, where
            assert (field.type is T.INLINE) == (field.name == ""), where
            assert not (field.repeated and field.type in (T.MAP, T.INLINE)), where
            assert not (field.always and field.repeated), where


def test_json_names_are_unique_per_object() -> None:
    for message in MESSAGES:
        names = json_names(message)
        assert len(names) == len(set(names)), (message, sorted(n for n in names if names.count(n) > 1))


def test_every_kind_has_metadata_as_field_one() -> None:
    for message in KINDS.values():
        field = MESSAGES[message][1]
        assert (field.name, field.message) == ("metadata", "meta.v1.ObjectMeta"), message
