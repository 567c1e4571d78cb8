"""Value types of channels: the type fingerprint of docs/protocol.md and value packing.

A typed channel carries messages of one protobuf message class, packed by the `protobuf`
package (SerializeToString and FromString). The C library compares the type's full name and
fingerprint when an importer binds, so the fingerprint computed here must equal the one
netchan_type_fingerprint() computes from the protobuf-c descriptor of the same .proto file.
"""

from __future__ import annotations

from typing import Any

_FNV_OFFSET_BASIS = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF

# FieldDescriptorProto.Type numbers of descriptor.proto and their names without "TYPE_".
_TYPE_NAMES = {
    1: "double",
    2: "float",
    3: "int64",
    4: "uint64",
    5: "int32",
    6: "fixed64",
    7: "fixed32",
    8: "bool",
    9: "string",
    10: "group",
    11: "message",
    12: "bytes",
    13: "uint32",
    14: "enum",
    15: "sfixed32",
    16: "sfixed64",
    17: "sint32",
    18: "sint64",
}
_TYPE_GROUP = 10
_TYPE_MESSAGE = 11
_TYPE_ENUM = 14

# FieldDescriptorProto.Label numbers.
_LABEL_OPTIONAL = 1
_LABEL_REQUIRED = 2
_LABEL_REPEATED = 3

BYTES_TYPE_NAME = "bytes"


def _fnv1a(hash_value: int, data: bytes) -> int:
    for byte in data:
        hash_value ^= byte
        hash_value = (hash_value * _FNV_PRIME) & _MASK64
    return hash_value


def _label_name(field: Any) -> str:
    # Newer protobuf releases deprecate FieldDescriptor.label in favour of is_repeated and
    # is_required, so use those where they exist. Proto3 fields without a label and explicit
    # optional ones both count as "optional", as in the C library.
    is_repeated = getattr(field, "is_repeated", None)
    if isinstance(is_repeated, bool):
        if is_repeated:
            return "repeated"
        if getattr(field, "is_required", False):
            return "required"
        return "optional"
    if field.label == _LABEL_REPEATED:
        return "repeated"
    if field.label == _LABEL_REQUIRED:
        return "required"
    return "optional"


def _descriptor_of(message_type: Any) -> Any:
    """Return the protobuf Descriptor of a message class or of a Descriptor itself."""
    descriptor = getattr(message_type, "DESCRIPTOR", message_type)
    if not hasattr(descriptor, "full_name") or not hasattr(descriptor, "fields"):
        raise TypeError(
            "a channel type must be a protobuf message class (or its Descriptor), "
            f"not {message_type!r}"
        )
    return descriptor


def type_fingerprint(message_type: Any) -> str:
    """Compute the fingerprint of a protobuf message type as 16 lowercase hex digits.

    The hash is 64-bit FNV-1a over UTF-8 text: the message's full name, then for each field in
    increasing field number ";NUMBER NAME LABEL TYPE REFERENCE". REFERENCE is the full name of
    the field's message or enum type, and empty for other fields.

    Args:
        message_type: a generated protobuf message class, or its Descriptor.
    """
    descriptor = _descriptor_of(message_type)
    hash_value = _fnv1a(_FNV_OFFSET_BASIS, descriptor.full_name.encode("utf-8"))
    for field in sorted(descriptor.fields, key=lambda f: f.number):
        reference = ""
        if field.type in (_TYPE_MESSAGE, _TYPE_GROUP) and field.message_type is not None:
            reference = field.message_type.full_name
        elif field.type == _TYPE_ENUM and field.enum_type is not None:
            reference = field.enum_type.full_name
        type_name = _TYPE_NAMES.get(field.type, "unknown")
        line = f";{field.number} {field.name} {_label_name(field)} {type_name} {reference}"
        hash_value = _fnv1a(hash_value, line.encode("utf-8"))
    return f"{hash_value:016x}"


def type_name(message_type: Any) -> str:
    """Return the full name ("package.Message") that a channel of this type announces."""
    return _descriptor_of(message_type).full_name


class ValueCodec:
    """Packs and unpacks the values of one channel: message objects of one class, or bytes."""

    def __init__(self, message_class: Any | None) -> None:
        self.message_class = message_class
        # Exceptions that unpack() raises for bytes that do not parse.
        self.decode_errors: tuple[type[BaseException], ...] = ()
        if message_class is None:
            self.name = BYTES_TYPE_NAME
            self.fingerprint: str | None = None
            return
        if not hasattr(message_class, "FromString"):
            raise TypeError(
                f"type must be a generated protobuf message class, not {message_class!r}"
            )
        self.name = type_name(message_class)
        self.fingerprint = type_fingerprint(message_class)
        from google.protobuf.message import DecodeError as ProtobufDecodeError

        self.decode_errors = (ProtobufDecodeError,)

    def pack(self, value: Any) -> bytes:
        """Return the bytes that carry value over the channel."""
        if self.message_class is None:
            if isinstance(value, bytes):
                return value
            if isinstance(value, (bytearray, memoryview)):
                return bytes(value)
            raise TypeError(
                f"a bytes channel sends bytes, bytearray or memoryview, not {type(value).__name__}"
            )
        if not isinstance(value, self.message_class):
            descriptor = getattr(value, "DESCRIPTOR", None)
            value_type = getattr(descriptor, "full_name", type(value).__name__)
            raise TypeError(f"this channel sends {self.name} messages, not {value_type}")
        return value.SerializeToString()

    def unpack(self, data: bytes) -> Any:
        """Return the value carried by data; raises the protobuf package's DecodeError."""
        if self.message_class is None:
            return data
        return self.message_class.FromString(data)
