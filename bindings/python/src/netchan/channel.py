"""Channels and received messages."""

from __future__ import annotations

import ctypes
import enum
import math
import threading
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator

from . import _lib
from ._aio import FdWaiters
from ._types import ValueCodec
from .errors import Closed, DecodeError, NetchanError, StateError, Timeout, WouldBlock, error_for

if TYPE_CHECKING:
    from .endpoints import _Owner

lib = _lib.lib

# Blocking calls into the library wait at most this long at a time, in milliseconds. Between
# two waits the binding checks whether the channel's exporter or importer is being closed, and
# the interpreter runs signal handlers, so Ctrl-C interrupts a blocked recv() within this time.
WAIT_SLICE_MS = 100

# The last statistic number (enum netchan_stat) that this binding queries.
# netchan_stat_name() returns NULL for numbers the library does not know.
_MAX_STAT = 64


class Direction(enum.IntEnum):
    """Direction of a channel from the point of view of the side that opens it."""

    SEND = 1
    RECV = 2


def to_direction(direction: Direction | str | int) -> Direction:
    """Convert Direction.SEND, "send", 1 and the like to a Direction."""
    if isinstance(direction, str):
        try:
            return Direction[direction.upper()]
        except KeyError:
            raise ValueError(f"direction must be 'send' or 'recv', not {direction!r}") from None
    try:
        return Direction(direction)
    except ValueError:
        raise ValueError(
            f"direction must be Direction.SEND or Direction.RECV, not {direction!r}"
        ) from None


def timeout_ms(timeout: float | None) -> int:
    """Convert a timeout in seconds (None: without limit) to the library's milliseconds."""
    if timeout is None:
        return _lib.FOREVER
    if timeout < 0 or math.isnan(timeout):
        raise ValueError(f"timeout must be None or at least 0 seconds, not {timeout!r}")
    if timeout == 0:
        return _lib.NOWAIT
    return max(1, min(math.ceil(timeout * 1000), 2**31 - 1))


class _OwnerClosed(Exception):
    """The exporter or importer began to close while a call waited."""


def wait_in_slices(
    owner: _Owner, timeout: float | None, attempt: Callable[[int], int], slice_ms: int
) -> int:
    """Call attempt(timeout_ms) until it returns something other than NETCHAN_ETIMEDOUT.

    Each call waits at most slice_ms. Returns the last error code, NETCHAN_ETIMEDOUT once
    timeout (seconds, None for no limit) has run out, or raises _OwnerClosed when the owner
    began to close. The caller must be inside owner.enter().
    """
    if timeout is None:
        while True:
            err = attempt(slice_ms)
            if err != _lib.ETIMEDOUT:
                return err
            if owner.closing:
                raise _OwnerClosed()
    if timeout_ms(timeout) == _lib.NOWAIT:
        return attempt(_lib.NOWAIT)
    deadline = time.monotonic() + timeout
    while True:
        remaining_ms = math.ceil((deadline - time.monotonic()) * 1000)
        err = attempt(max(1, min(slice_ms, remaining_ms)))
        if err != _lib.ETIMEDOUT:
            return err
        if owner.closing:
            raise _OwnerClosed()
        if time.monotonic() >= deadline:
            return _lib.ETIMEDOUT


class Channel:
    """One end of a netchan channel, made by Exporter.export() or Importer.import_().

    The channel belongs to its exporter or importer and can be used until that is closed. All
    methods may be called from any thread. Blocking methods release the GIL while they wait.

    Timeouts are in seconds: None waits without limit, 0 fails at once with WouldBlock when the
    call would block, and a positive value waits up to that long before raising Timeout.
    """

    def __init__(
        self,
        owner: _Owner,
        handle: ctypes.c_void_p,
        name: str,
        direction: Direction,
        codec: ValueCodec,
        explicit_ack: bool,
    ) -> None:
        self._owner = owner
        self._handle = handle
        self._name = name
        self._direction = direction
        self._codec = codec
        self._explicit_ack = explicit_ack
        self._waiters = FdWaiters(self.fileno)

    def __repr__(self) -> str:
        return (
            f"<netchan.Channel {self._name!r} {self._direction.name.lower()} "
            f"type={self._codec.name}>"
        )

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._name

    @property
    def direction(self) -> Direction:
        """This side's direction: Direction.SEND or Direction.RECV."""
        return self._direction

    @property
    def type(self) -> Any | None:
        """The protobuf message class of the values, or None for a bytes channel."""
        return self._codec.message_class

    @property
    def type_name(self) -> str:
        """The type's full name as announced to the peer, "bytes" for a bytes channel."""
        return self._codec.name

    @property
    def fingerprint(self) -> str | None:
        """The type's fingerprint as announced to the peer, None for a bytes channel."""
        return self._codec.fingerprint

    @property
    def explicit_ack(self) -> bool:
        """Whether received values stay pending until Message.ack()."""
        return self._explicit_ack

    # ---- errors -------------------------------------------------------------------------

    def _error(self, code: int, **extra: Any) -> NetchanError:
        detail = _lib.decode(lib.netchan_chan_error(self._handle))
        return error_for(code, detail, **extra)

    def _owner_closed(self, operation: str) -> Closed:
        return Closed(f"{operation} on channel '{self._name}': the {self._owner.kind} was closed")

    def _timed_out(self, operation: str, timeout: float | None) -> Timeout:
        return Timeout(f"{operation} on channel '{self._name}' timed out after {timeout:g} s")

    def _wait(self, operation: str, timeout: float | None, attempt: Callable[[int], int]) -> int:
        """Run a blocking attempt; the caller must be inside the owner's enter()."""
        try:
            err = wait_in_slices(self._owner, timeout, attempt, WAIT_SLICE_MS)
        except _OwnerClosed:
            raise self._owner_closed(operation) from None
        if err == _lib.ETIMEDOUT:
            raise self._timed_out(operation, timeout)
        return err

    # ---- sending ------------------------------------------------------------------------

    def send(self, value: Any, timeout: float | None = None) -> None:
        """Queue value for delivery, waiting while the channel is full.

        value is a message of the channel's type, or bytes on a bytes channel. Once send()
        returns, the value is never dropped silently: it is acknowledged, still pending, or
        reported by drain().

        Raises TypeError for a value of the wrong type, Timeout or WouldBlock when the channel
        stayed full, Closed after close(), TooBig for a value above the channel's maximum value
        size, and StateError on a receiving channel.
        """
        data = self._codec.pack(value)
        handle = self._handle
        size = len(data)
        call = self._owner.enter("send")
        try:
            err = self._wait(
                "send", timeout, lambda ms: lib.netchan_send_bytes(handle, data, size, ms)
            )
            if err != _lib.OK:
                raise self._error(err)
        finally:
            self._owner.leave(call)

    async def send_async(self, value: Any, timeout: float | None = None) -> None:
        """Queue value like send(), waiting in the running asyncio event loop instead of blocking.

        Waits for the channel's file descriptor to become readable, which it is while send would
        not block.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self.send(value, timeout=0)
                return
            except WouldBlock:
                pass
            if not await self._waiters.wait(_remaining(deadline)):
                raise self._timed_out("send", timeout)

    # ---- receiving ----------------------------------------------------------------------

    def _take(self, operation: str, timeout: float | None, message: bool) -> Any:
        """Take the next value: a Message when message is true, else its packed bytes."""
        out = ctypes.c_void_p()
        handle = self._handle
        call = self._owner.enter(operation)
        try:
            err = self._wait(
                operation, timeout, lambda ms: lib.netchan_recv_msg(handle, ms, ctypes.byref(out))
            )
            if err != _lib.OK:
                raise self._error(err)
            size = lib.netchan_msg_size(out)
            data = ctypes.string_at(lib.netchan_msg_data(out), size) if size else b""
            if not message:
                lib.netchan_msg_destroy(ctypes.byref(out))
                return data
            attempts = lib.netchan_msg_attempts(out)
            if not self._explicit_ack:
                # The value was acknowledged when it was taken, so the handle is not needed.
                lib.netchan_msg_destroy(ctypes.byref(out))
                return Message(self, None, data, attempts)
            return Message(self, out, data, attempts)
        finally:
            self._owner.leave(call)

    def _unpack(self, data: bytes) -> Any:
        # NOTE: a value that does not parse was already taken, and on channels that acknowledge
        # on receipt also acknowledged. The C library has no call to reject it back to its
        # sender, so the sender counts it as delivered rather than rejected.
        codec = self._codec
        if codec.message_class is None:
            return data
        try:
            return codec.unpack(data)
        except codec.decode_errors as error:
            raise DecodeError(
                f"a value on channel '{self._name}' is not a valid {codec.name}: {error}",
                data=data,
            ) from error

    def recv(self, timeout: float | None = None) -> Any:
        """Take the next value: a message of the channel's type, or bytes on a bytes channel.

        The value counts as acknowledged once taken. Raises Closed after the last value once the
        sender has closed the channel, or after close() on this side. Raises Timeout or
        WouldBlock when no value arrived in time, and StateError on a sending channel or on one
        opened with explicit_ack, where recv_message() takes values. Raises DecodeError when the
        bytes received do not parse as the channel's type.
        """
        if self._explicit_ack:
            raise StateError(
                f"recv on channel '{self._name}': the channel was opened with explicit_ack, so "
                "use recv_message() and acknowledge each value with Message.ack()"
            )
        return self._unpack(self._take("recv", timeout, False))

    def recv_message(self, timeout: float | None = None) -> Message:
        """Take the next value as a Message, with its count of delivery attempts.

        On a channel opened with explicit_ack the value stays pending at its sender until
        Message.ack(); Message.release() hands it back for redelivery. Errors as for recv(),
        except that a value that does not parse raises DecodeError only from Message.value.
        """
        return self._take("recv", timeout, True)

    async def recv_async(self, timeout: float | None = None) -> Any:
        """Take the next value like recv(), waiting in the running asyncio event loop."""
        if self._explicit_ack:
            raise StateError(
                f"recv on channel '{self._name}': the channel was opened with explicit_ack, so "
                "use recv_message_async() and acknowledge each value with Message.ack()"
            )
        return self._unpack(await self._take_async(timeout, False))

    async def recv_message_async(self, timeout: float | None = None) -> Message:
        """Take the next value like recv_message(), waiting in the running asyncio event loop."""
        return await self._take_async(timeout, True)

    async def _take_async(self, timeout: float | None, message: bool) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return self._take("recv", 0, message)
            except WouldBlock:
                pass
            if not await self._waiters.wait(_remaining(deadline)):
                raise self._timed_out("recv", timeout)

    def __iter__(self) -> Iterator[Any]:
        """Yield values until the sender closes the channel.

        On a channel opened with explicit_ack, yields Message objects to acknowledge.
        """
        while True:
            try:
                item = self._take("recv", None, self._explicit_ack)
            except Closed:
                return
            yield item if self._explicit_ack else self._unpack(item)

    async def __aiter__(self) -> AsyncIterator[Any]:
        """Yield values in asyncio until the sender closes the channel, as __iter__ does."""
        while True:
            try:
                item = await self._take_async(None, self._explicit_ack)
            except Closed:
                return
            yield item if self._explicit_ack else self._unpack(item)

    # ---- closing and state --------------------------------------------------------------

    def close(self) -> None:
        """Close this end of the channel.

        On a sending channel: accept no further values, and deliver end of stream after the last
        pending one, so receivers see Closed. On a receiving channel: stop receiving and hand
        values not yet taken back to the sender. Wakes callers blocked on the channel.
        Idempotent; does nothing once the exporter or importer is closed.
        """
        try:
            call = self._owner.enter("close")
        except Closed:
            return
        try:
            err = lib.netchan_close(self._handle)
            if err != _lib.OK:
                raise self._error(err)
        finally:
            self._owner.leave(call)

    def drain(self, timeout: float | None = None) -> None:
        """Wait until every value sent on this channel is acknowledged.

        On a receiving channel, wait until the sender has confirmed every acknowledgement and
        every value handed back. Raises Timeout, with the number of values still unconfirmed in
        its `pending` attribute, when timeout ran out; Rejected when a receiver rejected values
        and Discarded when values passed their maximum delivery attempts.
        """
        handle = self._handle
        pending = ctypes.c_uint64(0)
        call = self._owner.enter("drain")
        try:
            try:
                err = wait_in_slices(
                    self._owner,
                    timeout,
                    lambda ms: lib.netchan_drain(handle, ms, ctypes.byref(pending)),
                    WAIT_SLICE_MS,
                )
            except _OwnerClosed:
                raise self._owner_closed("drain") from None
            if err == _lib.ETIMEDOUT or err == _lib.EAGAIN:
                raise Timeout(
                    f"drain on channel '{self._name}' timed out after {timeout:g} s with "
                    f"{pending.value} values unacknowledged",
                    pending=pending.value,
                )
            if err != _lib.OK:
                raise self._error(err)
        finally:
            self._owner.leave(call)

    @property
    def pending(self) -> int:
        """Values sent and not yet acknowledged; on a receiving side, received and not taken."""
        call = self._owner.enter("pending")
        try:
            return lib.netchan_pending(self._handle)
        finally:
            self._owner.leave(call)

    @property
    def stats(self) -> dict[str, int]:
        """The channel's statistics by name ("sent", "acknowledged", "in_flight" and so on).

        Every statistic the library defines is included. Those that do not apply to this side of
        the channel are 0.
        """
        call = self._owner.enter("stats")
        try:
            stats = {}
            for number in range(1, _MAX_STAT + 1):
                name = lib.netchan_stat_name(number)
                if name is not None:
                    stats[name.decode("ascii")] = lib.netchan_chan_stat(self._handle, number)
            return stats
        finally:
            self._owner.leave(call)

    def fileno(self) -> int:
        """Return a file descriptor for event loops, owned by the channel (never read or close it).

        On a receiving channel it is readable while recv would not block, because a value waits
        or the channel ended. On a sending channel it is readable while send would not block.
        """
        call = self._owner.enter("fileno")
        try:
            fd = lib.netchan_chan_fd(self._handle)
            if fd < 0:
                raise self._error(_lib.ESYSTEM)
            return fd
        finally:
            self._owner.leave(call)

    def allow_key(self, public_key: str) -> None:
        """Restrict this exported channel to importers with the z85 public key; repeat for more.

        Once a key is added, a bind by any other importer fails with AuthError. Keys are known
        only on exporters set up with CURVE.
        """
        call = self._owner.enter("allow_key")
        try:
            err = lib.netchan_chan_allow_key(self._handle, _lib.encode(public_key, "public_key"))
            if err != _lib.OK:
                raise self._error(err)
        finally:
            self._owner.leave(call)

    def _abort_waiters(self) -> None:
        self._waiters.abort(self._owner_closed("wait"))


class Message:
    """A received value with its delivery details, from Channel.recv_message().

    On a channel opened with explicit_ack, call ack() once the value is processed, or release()
    to hand it back for redelivery. A message neither acknowledged nor released stays pending at
    its sender until the importer ends or is lost, and is then redelivered. Use the message as a
    context manager, or call close(), to free it early; otherwise it is freed when collected.
    """

    def __init__(
        self, channel: Channel, handle: ctypes.c_void_p | None, data: bytes, attempts: int
    ) -> None:
        self._channel = channel
        self._owner = channel._owner
        self._lock = threading.Lock()
        self._handle = handle
        self._token = self._owner.track_message(handle) if handle is not None else None
        self.data = data
        self.attempts = attempts
        self._value: Any = None
        self._decoded = False

    def __repr__(self) -> str:
        return (
            f"<netchan.Message on {self._channel.name!r}, {len(self.data)} bytes, "
            f"attempts={self.attempts}>"
        )

    @property
    def channel(self) -> Channel:
        """The channel the value arrived on."""
        return self._channel

    @property
    def value(self) -> Any:
        """The value: a message of the channel's type, or bytes on a bytes channel.

        Parsed on first access; raises DecodeError when the bytes do not parse as the type.
        """
        if not self._decoded:
            self._value = self._channel._unpack(self.data)
            self._decoded = True
        return self._value

    def _settle(self, operation: str, function: Callable[[ctypes.c_void_p], int]) -> None:
        channel = self._channel
        if not channel.explicit_ack:
            raise StateError(
                f"{operation} on channel '{channel.name}': the channel acknowledges values "
                "when they are taken; open it with explicit_ack=True"
            )
        with self._lock:
            handle = self._handle
            if handle is None:
                raise StateError(f"{operation} on channel '{channel.name}': the message was closed")
            call = self._owner.enter(operation)
            try:
                err = function(handle)
                if err != _lib.OK:
                    raise channel._error(err)
            finally:
                self._owner.leave(call)

    def ack(self) -> None:
        """Acknowledge the value, which ends its delivery. Idempotent.

        Raises StateError on a channel that acknowledges on receipt, and Timeout when the
        channel's acknowledgement deadline passed and the value was released for redelivery.
        """
        self._settle("ack", lib.netchan_msg_ack)

    def release(self) -> None:
        """Hand the value back to its sender at once for redelivery, counting the attempt.

        Raises StateError on a channel that acknowledges on receipt, and Timeout when the
        deadline already released it.
        """
        self._settle("release", lib.netchan_msg_release)

    def close(self) -> None:
        """Free the library's handle of the message. Idempotent.

        An explicit-acknowledgement value that was neither acknowledged nor released stays
        pending at its sender.
        """
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None and self._token is not None:
            self._owner.destroy_message(self._token)

    def __enter__(self) -> Message:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())
