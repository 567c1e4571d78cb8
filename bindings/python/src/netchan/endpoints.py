"""Exporters and importers: the two kinds of netchan endpoint that own channels."""

from __future__ import annotations

import atexit
import ctypes
import itertools
import os
import threading
import time
import weakref
from typing import Any, Iterator, Sequence, TypeVar, Union

from . import _lib
from ._aio import FdWaiters
from ._types import ValueCodec
from .channel import Channel, Direction, _OwnerClosed, timeout_ms, to_direction, wait_in_slices
from .errors import Closed, NetchanError, Timeout, error_for
from .events import Event, EventReason, EventType, _to_enum

lib = _lib.lib

# How long one call of netchan_import_bytes() waits, in milliseconds. A longer wait than for
# values, because each timed-out call withdraws its bind and the next one sends a new one.
IMPORT_SLICE_MS = 1000
EVENT_SLICE_MS = 100

_ENDPOINT_BUFFER = 1024

# Names and numbers of enum netchan_endpoint_stat.
_ENDPOINT_STATS = (("sessions", 1), ("refused", 2), ("protocol_errors", 3))

Endpoints = Union[str, Sequence[str], None]
_OwnerT = TypeVar("_OwnerT", bound="_Owner")

# Every exporter and importer not yet closed, so that the interpreter closes them at exit.
_live: weakref.WeakSet[_Owner] = weakref.WeakSet()


def _path(path: str | os.PathLike[str]) -> bytes:
    return _lib.encode(os.fspath(path), "path")


def _endpoints(value: Endpoints) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _heartbeat_ms(interval: float | None, timeout: float | None) -> tuple[int, int] | None:
    """Convert heartbeat settings in seconds to milliseconds, filling in the library defaults."""
    if interval is None and timeout is None:
        return None
    interval_ms = 250 if interval is None else round(interval * 1000)
    timeout_ms_ = 1000 if timeout is None else round(timeout * 1000)
    return interval_ms, timeout_ms_


class _Options:
    """A netchan_options_t built from keyword arguments; None keeps the library's default."""

    def __init__(
        self,
        capacity: int | None,
        explicit_ack: bool | None,
        max_value_size: int | None,
        ack_deadline: float | None,
        max_attempts: int | None,
        dead_letter: str | None,
        unacknowledged: bool | None,
    ) -> None:
        self._settings: list[tuple[str, Any, Any]] = []
        if capacity is not None:
            self._settings.append(("capacity", lib.netchan_options_set_capacity, capacity))
        if explicit_ack is not None:
            self._settings.append(
                ("explicit_ack", lib.netchan_options_set_explicit_ack, bool(explicit_ack))
            )
        if max_value_size is not None:
            self._settings.append(
                ("max_value_size", lib.netchan_options_set_max_value_size, max_value_size)
            )
        if ack_deadline is not None:
            self._settings.append(
                ("ack_deadline", lib.netchan_options_set_ack_deadline, _deadline_ms(ack_deadline))
            )
        if max_attempts is not None:
            self._settings.append(
                ("max_attempts", lib.netchan_options_set_max_attempts, max_attempts)
            )
        if dead_letter is not None:
            self._settings.append(
                (
                    "dead_letter",
                    lib.netchan_options_set_dead_letter,
                    _lib.encode(dead_letter, "dead_letter"),
                )
            )
        if unacknowledged is not None:
            self._settings.append(
                ("unacknowledged", lib.netchan_options_set_unacknowledged, bool(unacknowledged))
            )
        self.explicit_ack = bool(explicit_ack)

    def make(self) -> ctypes.c_void_p:
        """Return a new netchan_options_t; the caller destroys it with destroy()."""
        handle = ctypes.c_void_p(lib.netchan_options_new())
        if not handle.value:
            raise MemoryError("netchan_options_new failed: out of memory")
        for name, setter, value in self._settings:
            if isinstance(value, int) and not isinstance(value, bool):
                if value < 0 or value > 0xFFFFFFFF:
                    self.destroy(handle)
                    raise error_for(
                        _lib.EINVAL, f"invalid {name}: {value} is outside 0..4294967295"
                    )
            err = setter(handle, value)
            if err != _lib.OK:
                self.destroy(handle)
                raise error_for(err, f"invalid {name}: {value!r}")
        return handle

    @staticmethod
    def destroy(handle: ctypes.c_void_p) -> None:
        lib.netchan_options_destroy(ctypes.byref(handle))


def _deadline_ms(seconds: float) -> int:
    if seconds < 0:
        raise ValueError(f"ack_deadline must be at least 0 seconds, not {seconds!r}")
    return round(seconds * 1000)


class _Owner:
    """Base of Exporter and Importer: the handle, its channels and orderly closing.

    Every call that uses the handle runs between enter() and leave(). close() lets the calls
    under way finish first (each blocking call waits in slices and notices the closing within
    one slice), then frees the handle, so no call ever uses a freed handle.
    """

    kind = "endpoint"
    _prefix = ""

    def __init__(self) -> None:
        self._handle = ctypes.c_void_p()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        # Calls under way, by id. Adding and removing a key are single dict operations, which
        # the interpreter makes atomic, so the hot path takes no lock.
        self._calls: dict[int, None] = {}
        self._call_ids = itertools.count(1)
        self._closing = False
        self._channels: dict[str, Channel] = {}
        self._messages: dict[int, ctypes.c_void_p] = {}
        self._event_waiters = FdWaiters(self.event_fileno)
        err = getattr(lib, f"netchan_{self._prefix}_new")(ctypes.byref(self._handle))
        if err != _lib.OK:
            raise error_for(err, f"cannot create the {self.kind}")
        _live.add(self)

    # ---- guarding the handle ------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """Whether close() has begun."""
        return self._closing

    @property
    def closed(self) -> bool:
        """Whether close() has begun; the handle cannot be used any more."""
        return self._closing

    def enter(self, operation: str) -> int:
        """Register a call that uses the handle and return its id for leave().

        Raises Closed once close() has begun. The call is registered before the check, so
        close(), which sets the flag before it checks the registered calls, either waits for the
        call or makes it raise.
        """
        call = next(self._call_ids)
        self._calls[call] = None
        if self._closing:
            del self._calls[call]
            raise Closed(f"{operation}: the {self.kind} is closed")
        return call

    def leave(self, call: int) -> None:
        """End a call begun with enter()."""
        del self._calls[call]
        if self._closing:
            with self._idle:
                self._idle.notify_all()

    def track_message(self, handle: ctypes.c_void_p) -> int:
        """Keep a received message's handle so that close() frees it first; returns its id."""
        token = next(self._call_ids)
        self._messages[token] = handle
        return token

    def destroy_message(self, token: int) -> None:
        """Free a message handle kept by track_message(), unless close() freed it already."""
        try:
            call = self.enter("free message")
        except Closed:
            return  # close() frees every tracked message
        try:
            handle = self._messages.pop(token, None)
            if handle is not None:
                lib.netchan_msg_destroy(ctypes.byref(handle))
        finally:
            self.leave(call)

    def _error(self, code: int) -> NetchanError:
        detail = _lib.decode(getattr(lib, f"netchan_{self._prefix}_error")(self._handle))
        return error_for(code, detail)

    def _call(self, operation: str, function: Any, *args: Any) -> None:
        call = self.enter(operation)
        try:
            err = function(self._handle, *args)
            if err != _lib.OK:
                raise self._error(err)
        finally:
            self.leave(call)

    # ---- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the exporter or importer and all its channels. Idempotent.

        Calls blocked in other threads on its channels raise Closed within about 0.1 s (1 s for
        import_()), and close() waits for them. Values still pending on sending channels are
        discarded: call Channel.drain() first to deliver them.
        """
        with self._idle:
            if self._closing:
                return
            self._closing = True
            # leave() notifies; the timeout covers a call that left between its check of the
            # flag and this wait.
            while self._calls:
                self._idle.wait(0.05)
        _live.discard(self)
        self._event_waiters.abort(Closed(f"the {self.kind} was closed"))
        for channel in list(self._channels.values()):
            channel._abort_waiters()
        for handle in self._messages.values():
            lib.netchan_msg_destroy(ctypes.byref(handle))
        self._messages.clear()
        getattr(lib, f"netchan_{self._prefix}_destroy")(ctypes.byref(self._handle))

    def __enter__(self: _OwnerT) -> _OwnerT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None and self._handle.value:
            try:
                self.close()
            except Exception:
                pass

    # ---- endpoints ----------------------------------------------------------------------

    def bind(self, endpoint: str) -> None:
        """Bind to endpoint ("tcp://127.0.0.1:*", "ipc:///tmp/x", "inproc://name").

        Raises EndpointError with libzmq's reason when the endpoint cannot be bound.
        """
        self._call(
            "bind",
            getattr(lib, f"netchan_{self._prefix}_bind"),
            _lib.encode(endpoint, "endpoint"),
        )

    @property
    def endpoint(self) -> str:
        """The endpoint that the last bind() resolved, with the port the system picked for "*"."""
        size = _ENDPOINT_BUFFER
        function = getattr(lib, f"netchan_{self._prefix}_endpoint")
        while True:
            buffer = ctypes.create_string_buffer(size)
            call = self.enter("endpoint")
            try:
                err = function(self._handle, buffer, size)
                if err == _lib.EINVAL and size < 65536:
                    size *= 4
                    continue
                if err != _lib.OK:
                    raise self._error(err)
                return _lib.decode(buffer.value)
            finally:
                self.leave(call)

    @property
    def stats(self) -> dict[str, int]:
        """Endpoint-wide statistics: "sessions" (importer sessions connected now, exporters
        only), "refused" (connections refused by authentication or handshake) and
        "protocol_errors" (frames ignored as malformed or unexpected)."""
        function = getattr(lib, f"netchan_{self._prefix}_stat")
        call = self.enter("stats")
        try:
            return {name: function(self._handle, number) for name, number in _ENDPOINT_STATS}
        finally:
            self.leave(call)

    def _set_heartbeat(self, interval: float | None, timeout: float | None) -> None:
        setting = _heartbeat_ms(interval, timeout)
        if setting is not None:
            self._call(
                "set heartbeat", getattr(lib, f"netchan_{self._prefix}_set_heartbeat"), *setting
            )

    # ---- events -------------------------------------------------------------------------

    def event_fileno(self) -> int:
        """Return a file descriptor that is readable while events wait (never read or close it)."""
        call = self.enter("event_fileno")
        try:
            fd = getattr(lib, f"netchan_{self._prefix}_event_fd")(self._handle)
            if fd < 0:
                raise self._error(_lib.ESYSTEM)
            return fd
        finally:
            self.leave(call)

    def next_event(self, timeout: float | None = None) -> Event | None:
        """Take the next connection event, waiting up to timeout seconds; None if none came.

        timeout None waits without limit, 0 only takes an event that is already queued.
        """
        out = ctypes.c_void_p()
        function = getattr(lib, f"netchan_{self._prefix}_next_event")
        handle = self._handle
        call = self.enter("next_event")
        try:
            try:
                err = wait_in_slices(
                    self,
                    timeout,
                    lambda ms: function(handle, ms, ctypes.byref(out)),
                    EVENT_SLICE_MS,
                )
            except _OwnerClosed:
                raise Closed(f"next_event: the {self.kind} was closed") from None
            if err in (_lib.ETIMEDOUT, _lib.EAGAIN):
                return None
            if err != _lib.OK:
                raise self._error(err)
            try:
                return Event(
                    type=_to_enum(EventType, lib.netchan_event_type_of(out)),
                    reason=_to_enum(EventReason, lib.netchan_event_reason_of(out)),
                    peer=_lib.decode(lib.netchan_event_peer(out)),
                    address=_lib.decode(lib.netchan_event_address(out)),
                    channel=_lib.decode(lib.netchan_event_channel(out)),
                    count=lib.netchan_event_count(out),
                )
            finally:
                lib.netchan_event_destroy(ctypes.byref(out))
        finally:
            self.leave(call)

    def events(self) -> Iterator[Event]:
        """Yield the events queued now, without waiting for more."""
        while True:
            event = self.next_event(timeout=0)
            if event is None:
                return
            yield event

    async def next_event_async(self, timeout: float | None = None) -> Event | None:
        """Take the next event like next_event(), waiting in the running asyncio event loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            event = self.next_event(timeout=0)
            if event is not None:
                return event
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not await self._event_waiters.wait(remaining):
                return None

    # ---- channels -----------------------------------------------------------------------

    @property
    def channels(self) -> dict[str, Channel]:
        """The channels opened so far, by name."""
        return dict(self._channels)

    def _open(
        self,
        operation: str,
        name: str,
        direction: Direction | str,
        type: Any | None,
        options: _Options,
        opener: Any,
    ) -> Channel:
        direction = to_direction(direction)
        codec = ValueCodec(type)
        name_c = _lib.encode(name, "name")
        type_name = None if type is None else codec.name.encode("utf-8")
        fingerprint = None if codec.fingerprint is None else codec.fingerprint.encode("ascii")
        out = ctypes.c_void_p()
        options_handle = options.make()
        try:
            call = self.enter(operation)
            try:
                err = opener(name_c, int(direction), type_name, fingerprint, options_handle, out)
                if err != _lib.OK:
                    raise self._error(err)
                channel = Channel(self, out, name, direction, codec, options.explicit_ack)
                self._channels[name] = channel
            finally:
                self.leave(call)
        finally:
            _Options.destroy(options_handle)
        return channel


class Exporter(_Owner):
    """An exporter: binds endpoints and publishes named channels for importers.

    Use it as a context manager, or call close(), to stop it. Example:

        with netchan.Exporter(bind="tcp://127.0.0.1:*") as exporter:
            print(exporter.endpoint)
            channel = exporter.export("numbers", netchan.SEND)

    Args:
        bind: an endpoint or a list of endpoints to bind.
        connect: endpoints of importers that bound themselves, to connect out to.
        heartbeat_interval: seconds between the heartbeats the exporter expects (default 0.25).
        heartbeat_timeout: seconds of silence after which an importer counts as lost and its
            unacknowledged values go to other importers (default 1.0).
        curve: the exporter's secret certificate file (from netchan.keygen()), which makes it
            a CURVE server that admits only encrypted, authenticated importers.
        curve_allow: a folder of importers' public certificates; only those keys are admitted.
            Without it, any importer with a valid key pair is.
        allow_addresses: IP addresses to admit connections from; without them, any address.

    Security settings are applied before the endpoints are bound.
    """

    kind = "exporter"
    _prefix = "exporter"

    def __init__(
        self,
        bind: Endpoints = None,
        *,
        connect: Endpoints = None,
        heartbeat_interval: float | None = None,
        heartbeat_timeout: float | None = None,
        curve: str | os.PathLike[str] | None = None,
        curve_allow: str | os.PathLike[str] | None = None,
        allow_addresses: Sequence[str] = (),
    ) -> None:
        super().__init__()
        try:
            self._set_heartbeat(heartbeat_interval, heartbeat_timeout)
            if curve is not None:
                self.set_curve(curve)
            if curve_allow is not None:
                self.curve_allow(curve_allow)
            for address in allow_addresses:
                self.allow_address(address)
            for endpoint in _endpoints(bind):
                self.bind(endpoint)
            for endpoint in _endpoints(connect):
                self.connect(endpoint)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._channels)} channels"
        return f"<netchan.Exporter {state}>"

    def connect(self, endpoint: str) -> None:
        """Connect out to an importer that bound endpoint. libzmq retries until it listens."""
        self._call("connect", lib.netchan_exporter_connect, _lib.encode(endpoint, "endpoint"))

    def set_curve(self, secret_cert: str | os.PathLike[str]) -> None:
        """Make the exporter a CURVE server with the key pair in a certificate file.

        Call before bind(). Raises InvalidArgument when the file contains no secret key.
        """
        self._call("set_curve", lib.netchan_exporter_set_curve, _path(secret_cert))

    def curve_allow(self, directory: str | os.PathLike[str] | None) -> None:
        """Admit only importers whose public certificates are in directory; None admits any.

        The folder is read again when it changes, so adding or removing a certificate takes
        effect for new connections.
        """
        value = None if directory is None else _path(directory)
        self._call("curve_allow", lib.netchan_exporter_curve_allow, value)

    def allow_address(self, address: str) -> None:
        """Admit connections from this IP address; call again for more. Works without CURVE."""
        self._call(
            "allow_address", lib.netchan_exporter_allow_address, _lib.encode(address, "address")
        )

    def export(
        self,
        name: str,
        direction: Direction | str,
        type: Any | None = None,
        *,
        capacity: int | None = None,
        explicit_ack: bool | None = None,
        max_value_size: int | None = None,
        ack_deadline: float | None = None,
        max_attempts: int | None = None,
        dead_letter: str | None = None,
        unacknowledged: bool | None = None,
    ) -> Channel:
        """Export a channel under name.

        Args:
            name: the channel's name, which importers bind to.
            direction: this side's direction, Direction.SEND (or "send") to send values to
                importers, Direction.RECV to receive from them.
            type: a generated protobuf message class; None for a channel of bytes.
            capacity: values the channel holds on this side (default 1024).
            explicit_ack: on a receiving channel, keep each value pending at its sender until
                Message.ack() (default False: acknowledged when taken).
            max_value_size: the largest packed value in bytes (default 1 MiB, at most 16 MiB).
            ack_deadline: seconds a taken value may stay unacknowledged before it is released
                for redelivery (receiving channels; default 0, no deadline).
            max_attempts: deliveries of one value before it is dead-lettered or discarded
                (sending channels; default 0, no limit).
            dead_letter: the name of a sending channel, opened before this one, that receives
                values past their maximum attempts.
            unacknowledged: use at-most-once delivery without acknowledgements; both sides
                must choose it. Faster, but loses values with a connection or receiver.

        Raises AlreadyExists when the name is taken and InvalidArgument for a bad option.
        """
        options = _Options(
            capacity,
            explicit_ack,
            max_value_size,
            ack_deadline,
            max_attempts,
            dead_letter,
            unacknowledged,
        )
        handle = self._handle

        def opener(name_c, direction_c, type_name, fingerprint, options_handle, out):
            return lib.netchan_export_bytes(
                handle,
                name_c,
                direction_c,
                type_name,
                fingerprint,
                options_handle,
                ctypes.byref(out),
            )

        return self._open("export", name, direction, type, options, opener)


class Importer(_Owner):
    """An importer: connects to an exporter and binds local channels to exported ones by name.

    Its session lives as long as the object, so a reconnect resumes it. Closing it ends the
    session gracefully: acknowledgements are flushed and received values not yet taken go back
    to the exporter for redelivery. Example:

        with netchan.Importer(connect="tcp://127.0.0.1:5555") as importer:
            channel = importer.import_("numbers", netchan.RECV)
            for value in channel:
                print(value)

    Args:
        connect: the exporter's endpoint. Connecting never fails when no exporter listens yet,
            because libzmq keeps trying, and import_() waits until an exporter accepts the bind.
        bind: an endpoint to bind instead, for an exporter that connects out.
        heartbeat_interval: seconds between heartbeats (default 0.25).
        heartbeat_timeout: seconds of exporter silence after which the importer reconnects
            (default 1.0).
        curve: the importer's secret certificate file (from netchan.keygen()), which makes it
            a CURVE client; server_key must then name the exporter's public key.
        server_key: the exporter's z85 public key (40 characters), or the path of its public
            certificate file.

    Security settings are applied before connecting or binding.
    """

    kind = "importer"
    _prefix = "importer"

    def __init__(
        self,
        connect: str | None = None,
        *,
        bind: str | None = None,
        heartbeat_interval: float | None = None,
        heartbeat_timeout: float | None = None,
        curve: str | os.PathLike[str] | None = None,
        server_key: str | os.PathLike[str] | None = None,
    ) -> None:
        if (curve is None) != (server_key is None):
            raise ValueError("curve and server_key must be given together")
        super().__init__()
        try:
            self._set_heartbeat(heartbeat_interval, heartbeat_timeout)
            if curve is not None and server_key is not None:
                self.set_curve(curve, server_key)
            if connect is not None:
                self.connect(connect)
            if bind is not None:
                self.bind(bind)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._channels)} channels"
        return f"<netchan.Importer {state}>"

    def connect(self, endpoint: str) -> None:
        """Connect to the exporter at endpoint. An importer talks to one exporter."""
        self._call("connect", lib.netchan_importer_connect, _lib.encode(endpoint, "endpoint"))

    def set_curve(
        self, secret_cert: str | os.PathLike[str], server_key: str | os.PathLike[str]
    ) -> None:
        """Make the importer a CURVE client with the key pair in a certificate file.

        server_key is the exporter's z85 public key or the path of its public certificate.
        Call before connect(). A connection the exporter refuses makes import_() raise
        AuthError.
        """
        self._call(
            "set_curve", lib.netchan_importer_set_curve, _path(secret_cert), _path(server_key)
        )

    def import_(
        self,
        name: str,
        direction: Direction | str,
        type: Any | None = None,
        *,
        timeout: float | None = None,
        capacity: int | None = None,
        explicit_ack: bool | None = None,
        max_value_size: int | None = None,
        ack_deadline: float | None = None,
        max_attempts: int | None = None,
        dead_letter: str | None = None,
        unacknowledged: bool | None = None,
    ) -> Channel:
        """Bind a local channel to the exporter's channel name.

        direction is this side's: Direction.RECV (or "recv") to receive from an exported
        sending channel. type must match the exporter's: the same protobuf message (same full
        name and fields), or None on both sides for bytes. Waits up to timeout seconds (None:
        without limit) for the exporter to accept the bind. The options are those of
        Exporter.export().

        Raises NotFound, TypeMismatch (naming both types) or DirectionMismatch as the exporter
        reports them, AuthError when the exporter refused this importer's key, address or
        connection, and Timeout when no exporter replied in time.
        """
        options = _Options(
            capacity,
            explicit_ack,
            max_value_size,
            ack_deadline,
            max_attempts,
            dead_letter,
            unacknowledged,
        )
        handle = self._handle
        timeout_ms(timeout)  # validates the timeout before anything is sent

        def opener(name_c, direction_c, type_name, fingerprint, options_handle, out):
            def attempt(ms: int) -> int:
                return lib.netchan_import_bytes(
                    handle,
                    name_c,
                    direction_c,
                    type_name,
                    fingerprint,
                    options_handle,
                    ms,
                    ctypes.byref(out),
                )

            try:
                err = wait_in_slices(self, timeout, attempt, IMPORT_SLICE_MS)
            except _OwnerClosed:
                raise Closed(f"import of channel '{name}': the importer was closed") from None
            if err == _lib.ETIMEDOUT:
                raise Timeout(
                    f"import of channel '{name}' timed out after {timeout:g} s: no exporter "
                    "answered; is an exporter listening at the endpoint?"
                )
            return err

        return self._open("import", name, direction, type, options, opener)


def _close_all() -> None:
    """Close every exporter and importer still open, so importers end their sessions."""
    for owner in list(_live):
        try:
            owner.close()
        except Exception:
            pass


atexit.register(_close_all)
