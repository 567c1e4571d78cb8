"""Reliable network channels over ZeroMQ: the Python binding of libnetchan.

An Exporter binds an endpoint and publishes named channels; an Importer connects to it and
binds local channels to the exported ones by name. Values are protobuf messages (a generated
message class per channel) or bytes, and every value stays pending at its sender until the
receiving application has taken it, so values survive disconnects, reconnects and crashed
receivers.

The binding calls the C library through ctypes. It finds libnetchan.so at the path in the
environment variable NETCHAN_LIBRARY, else through the system loader.
"""

from __future__ import annotations

from . import _lib
from ._logging import disable_logging, enable_logging
from ._types import type_fingerprint, type_name
from .channel import Channel, Direction, Message
from .endpoints import Exporter, Importer
from .errors import (
    AlreadyExists,
    AuthError,
    Closed,
    DecodeError,
    DirectionMismatch,
    Discarded,
    EndpointError,
    InvalidArgument,
    NetchanError,
    NotFound,
    OutOfMemory,
    ProtocolError,
    Rejected,
    StateError,
    SystemCallError,
    Timeout,
    TooBig,
    TypeMismatch,
    WouldBlock,
)
from .events import Event, EventReason, EventType
from .security import cert_public_key, keygen

__version__ = "0.1.0"

SEND = Direction.SEND
RECV = Direction.RECV

#: Path or name of the loaded C library.
library_path: str = _lib.path


def library_version() -> str:
    """Return the version of the loaded C library, "MAJOR.MINOR.PATCH"."""
    return _lib.decode(_lib.lib.netchan_version())


__all__ = [
    "AlreadyExists",
    "AuthError",
    "Channel",
    "Closed",
    "DecodeError",
    "Direction",
    "DirectionMismatch",
    "Discarded",
    "EndpointError",
    "Event",
    "EventReason",
    "EventType",
    "Exporter",
    "Importer",
    "InvalidArgument",
    "Message",
    "NetchanError",
    "NotFound",
    "OutOfMemory",
    "ProtocolError",
    "RECV",
    "Rejected",
    "SEND",
    "StateError",
    "SystemCallError",
    "Timeout",
    "TooBig",
    "TypeMismatch",
    "WouldBlock",
    "cert_public_key",
    "disable_logging",
    "enable_logging",
    "keygen",
    "library_path",
    "library_version",
    "type_fingerprint",
    "type_name",
]
