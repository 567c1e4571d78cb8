"""Exceptions raised by the netchan binding.

Every failure reported by the C library raises a subclass of NetchanError that carries the
library's error code (`code`, a value of enum netchan_err) and the detail message that
netchan_*_error() returned for the failed call.
"""

from __future__ import annotations

from . import _lib


class NetchanError(Exception):
    """Base class of the binding's exceptions.

    Attributes:
        code: the C library's error code (NETCHAN_EINVAL is 1, and so on).
        message: the detail message, which names the channel or endpoint involved.
    """

    code: int = 0

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    @property
    def strerror(self) -> str:
        """The C library's generic description of the error code."""
        return _lib.decode(_lib.lib.netchan_strerror(self.code))


class InvalidArgument(NetchanError, ValueError):
    """An argument is invalid (NETCHAN_EINVAL)."""

    code = _lib.EINVAL


class OutOfMemory(NetchanError):
    """The library ran out of memory (NETCHAN_ENOMEM)."""

    code = _lib.ENOMEM


class Timeout(NetchanError):
    """The timeout ran out before the operation could complete (NETCHAN_ETIMEDOUT).

    `pending` is the number of values still unconfirmed when drain() timed out, else None.
    """

    code = _lib.ETIMEDOUT

    def __init__(self, message: str, code: int | None = None, pending: int | None = None):
        super().__init__(message, code)
        self.pending = pending


class WouldBlock(Timeout):
    """A timeout of 0 was given and the operation would block (NETCHAN_EAGAIN)."""

    code = _lib.EAGAIN


class Closed(NetchanError):
    """The channel is closed: end of stream, closed by this side, or its owner was closed."""

    code = _lib.ECLOSED


class NotFound(NetchanError):
    """The exporter has no channel of that name (NETCHAN_ENOTFOUND)."""

    code = _lib.ENOTFOUND


class TypeMismatch(NetchanError):
    """The value types of the two sides differ (NETCHAN_ETYPE); the message names both."""

    code = _lib.ETYPE


class DirectionMismatch(NetchanError):
    """Both sides of a channel send, or both receive (NETCHAN_EDIRECTION)."""

    code = _lib.EDIRECTION


class AlreadyExists(NetchanError):
    """A channel of that name is already exported or imported (NETCHAN_EEXIST)."""

    code = _lib.EEXIST


class EndpointError(NetchanError):
    """An endpoint could not be bound or connected (NETCHAN_EENDPOINT)."""

    code = _lib.EENDPOINT


class ProtocolError(NetchanError):
    """The peer violated the wire protocol or speaks another version (NETCHAN_EPROTO)."""

    code = _lib.EPROTO


class TooBig(NetchanError):
    """A value is larger than the channel's maximum value size (NETCHAN_ETOOBIG)."""

    code = _lib.ETOOBIG


class DecodeError(NetchanError):
    """A received value could not be parsed as the channel's message type (NETCHAN_EDECODE).

    `data` contains the value's packed bytes.
    """

    code = _lib.EDECODE

    def __init__(self, message: str, code: int | None = None, data: bytes = b"") -> None:
        super().__init__(message, code)
        self.data = data


class StateError(NetchanError):
    """The call does not fit the handle's direction, mode or state (NETCHAN_ESTATE)."""

    code = _lib.ESTATE


class SystemCallError(NetchanError):
    """A call into the operating system or libzmq failed (NETCHAN_ESYSTEM)."""

    code = _lib.ESYSTEM


class Rejected(NetchanError):
    """The receiving side rejected a value or a bind (NETCHAN_EREJECTED)."""

    code = _lib.EREJECTED


class Discarded(NetchanError):
    """A value was discarded after its maximum delivery attempts (NETCHAN_EDISCARDED)."""

    code = _lib.EDISCARDED


class AuthError(NetchanError):
    """Authentication or authorisation failed (NETCHAN_EAUTH): a key or address not admitted."""

    code = _lib.EAUTH


_BY_CODE: dict[int, type[NetchanError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        OutOfMemory,
        Timeout,
        WouldBlock,
        Closed,
        NotFound,
        TypeMismatch,
        DirectionMismatch,
        AlreadyExists,
        EndpointError,
        ProtocolError,
        TooBig,
        DecodeError,
        StateError,
        SystemCallError,
        Rejected,
        Discarded,
        AuthError,
    )
}


def error_for(code: int, message: str, **extra) -> NetchanError:
    """Build the exception for a netchan_err code, NetchanError itself for unknown codes."""
    cls = _BY_CODE.get(code, NetchanError)
    if not message:
        message = _lib.decode(_lib.lib.netchan_strerror(code))
    return cls(message, code, **extra)
