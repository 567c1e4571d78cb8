"""Connection events of exporters and importers."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union


class EventType(enum.IntEnum):
    """Kinds of connection event (enum netchan_event_type)."""

    CONNECTED = 1  # a new session started
    RESUMED = 2  # a known session came back after a reconnect
    LOST = 3  # the peer was lost; see reason and count
    ENDED = 4  # the peer ended its session gracefully
    DEAD_LETTER = 5  # a value passed its channel's maximum attempts
    OVERFLOW = 6  # count is the number of older events dropped
    REFUSED = 7  # a connection failed its handshake or authentication (reason AUTH or PROTOCOL)


class EventReason(enum.IntEnum):
    """Reason for a lost or refused peer (enum netchan_event_reason)."""

    NONE = 0
    CLOSED = 1  # the peer's connection closed
    TIMEOUT = 2  # the peer sent no heartbeat within the timeout
    PROTOCOL = 3  # the peer broke the protocol
    RESTART = 4  # the exporter restarted and lost the session's state
    EXPIRED = 5  # the session had been lost before it resumed
    AUTH = 6  # the key or address was not admitted


@dataclass(frozen=True)
class Event:
    """One connection event.

    Attributes:
        type: what happened; a plain int for a type newer than this binding.
        reason: why a peer was lost, EventReason.NONE otherwise.
        peer: the importer's session id as 32 hex digits (on an exporter), or the exporter's
            instance id as 16 hex digits (on an importer).
        address: the peer's network address as libzmq reports it, or "".
        channel: the channel the event concerns, or "" for session events.
        count: values taken back for redelivery (LOST, RESUMED), the value's sequence number
            (DEAD_LETTER) or the number of dropped events (OVERFLOW); 0 otherwise.
    """

    type: Union[EventType, int]
    reason: Union[EventReason, int]
    peer: str
    address: str
    channel: str
    count: int


def _to_enum(enum_class, value: int):
    try:
        return enum_class(value)
    except ValueError:
        return value
