"""Loading of libnetchan and the ctypes prototypes of the functions in netchan.h.

The library is looked up, in this order, at the path in the environment variable
NETCHAN_LIBRARY, through ctypes.util.find_library("netchan"), and as "libnetchan.so.0" through
the system loader. Every function is called through ctypes.CDLL, which releases the GIL for the
duration of each call, so blocking calls let other Python threads run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# Error codes of enum netchan_err. The C header promises that these values never change.
OK = 0
EINVAL = 1
ENOMEM = 2
ETIMEDOUT = 3
EAGAIN = 4
ECLOSED = 5
ENOTFOUND = 6
ETYPE = 7
EDIRECTION = 8
EEXIST = 9
EENDPOINT = 10
EPROTO = 11
ETOOBIG = 12
EDECODE = 13
ESTATE = 14
ESYSTEM = 15
EREJECTED = 16
EDISCARDED = 17
EAUTH = 18

# Special timeouts of enum netchan_timeout, in milliseconds.
FOREVER = -1
NOWAIT = 0

LIBRARY_ENV = "NETCHAN_LIBRARY"
SONAME = "libnetchan.so.0"

_handle_p = ctypes.c_void_p
_out_handle = ctypes.POINTER(ctypes.c_void_p)
_err = ctypes.c_int

LOG_FUNCTION = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

# name: (result type, argument types)
_PROTOTYPES = {
    "netchan_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    "netchan_version": (ctypes.c_char_p, []),
    # options
    "netchan_options_new": (_handle_p, []),
    "netchan_options_destroy": (None, [_out_handle]),
    "netchan_options_set_capacity": (_err, [_handle_p, ctypes.c_uint32]),
    "netchan_options_set_explicit_ack": (_err, [_handle_p, ctypes.c_bool]),
    "netchan_options_set_max_value_size": (_err, [_handle_p, ctypes.c_uint32]),
    "netchan_options_set_ack_deadline": (_err, [_handle_p, ctypes.c_uint32]),
    "netchan_options_set_max_attempts": (_err, [_handle_p, ctypes.c_uint32]),
    "netchan_options_set_dead_letter": (_err, [_handle_p, ctypes.c_char_p]),
    "netchan_options_set_unacknowledged": (_err, [_handle_p, ctypes.c_bool]),
    # logging
    "netchan_set_log_handler": (None, [LOG_FUNCTION, ctypes.c_int, ctypes.c_void_p]),
    "netchan_log_level_name": (ctypes.c_char_p, [ctypes.c_int]),
    # events
    "netchan_exporter_next_event": (_err, [_handle_p, ctypes.c_int, _out_handle]),
    "netchan_importer_next_event": (_err, [_handle_p, ctypes.c_int, _out_handle]),
    "netchan_exporter_event_fd": (ctypes.c_int, [_handle_p]),
    "netchan_importer_event_fd": (ctypes.c_int, [_handle_p]),
    "netchan_event_type_of": (ctypes.c_int, [_handle_p]),
    "netchan_event_reason_of": (ctypes.c_int, [_handle_p]),
    "netchan_event_peer": (ctypes.c_char_p, [_handle_p]),
    "netchan_event_address": (ctypes.c_char_p, [_handle_p]),
    "netchan_event_channel": (ctypes.c_char_p, [_handle_p]),
    "netchan_event_count": (ctypes.c_uint64, [_handle_p]),
    "netchan_event_destroy": (None, [_out_handle]),
    "netchan_event_type_name": (ctypes.c_char_p, [ctypes.c_int]),
    "netchan_event_reason_name": (ctypes.c_char_p, [ctypes.c_int]),
    # exporter
    "netchan_exporter_new": (_err, [_out_handle]),
    "netchan_exporter_destroy": (None, [_out_handle]),
    "netchan_exporter_set_heartbeat": (_err, [_handle_p, ctypes.c_uint32, ctypes.c_uint32]),
    "netchan_exporter_bind": (_err, [_handle_p, ctypes.c_char_p]),
    "netchan_exporter_connect": (_err, [_handle_p, ctypes.c_char_p]),
    "netchan_exporter_endpoint": (_err, [_handle_p, ctypes.c_char_p, ctypes.c_size_t]),
    "netchan_exporter_error": (ctypes.c_char_p, [_handle_p]),
    "netchan_export_bytes": (
        _err,
        [
            _handle_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_char_p,
            _handle_p,
            _out_handle,
        ],
    ),
    # security and endpoint statistics
    "netchan_keygen": (_err, [ctypes.c_char_p]),
    "netchan_cert_public_key": (_err, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]),
    "netchan_exporter_set_curve": (_err, [_handle_p, ctypes.c_char_p]),
    "netchan_exporter_curve_allow": (_err, [_handle_p, ctypes.c_char_p]),
    "netchan_exporter_allow_address": (_err, [_handle_p, ctypes.c_char_p]),
    "netchan_importer_set_curve": (_err, [_handle_p, ctypes.c_char_p, ctypes.c_char_p]),
    "netchan_chan_allow_key": (_err, [_handle_p, ctypes.c_char_p]),
    "netchan_exporter_stat": (ctypes.c_uint64, [_handle_p, ctypes.c_int]),
    "netchan_importer_stat": (ctypes.c_uint64, [_handle_p, ctypes.c_int]),
    # importer
    "netchan_importer_new": (_err, [_out_handle]),
    "netchan_importer_destroy": (None, [_out_handle]),
    "netchan_importer_set_heartbeat": (_err, [_handle_p, ctypes.c_uint32, ctypes.c_uint32]),
    "netchan_importer_connect": (_err, [_handle_p, ctypes.c_char_p]),
    "netchan_importer_bind": (_err, [_handle_p, ctypes.c_char_p]),
    "netchan_importer_endpoint": (_err, [_handle_p, ctypes.c_char_p, ctypes.c_size_t]),
    "netchan_importer_error": (ctypes.c_char_p, [_handle_p]),
    "netchan_import_bytes": (
        _err,
        [
            _handle_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_char_p,
            _handle_p,
            ctypes.c_int,
            _out_handle,
        ],
    ),
    # channels
    "netchan_send_bytes": (_err, [_handle_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]),
    "netchan_recv_msg": (_err, [_handle_p, ctypes.c_int, _out_handle]),
    "netchan_msg_data": (ctypes.c_void_p, [_handle_p]),
    "netchan_msg_size": (ctypes.c_size_t, [_handle_p]),
    "netchan_msg_attempts": (ctypes.c_uint32, [_handle_p]),
    "netchan_msg_ack": (_err, [_handle_p]),
    "netchan_msg_release": (_err, [_handle_p]),
    "netchan_msg_destroy": (None, [_out_handle]),
    "netchan_close": (_err, [_handle_p]),
    "netchan_drain": (_err, [_handle_p, ctypes.c_int, ctypes.POINTER(ctypes.c_uint64)]),
    "netchan_pending": (ctypes.c_uint64, [_handle_p]),
    "netchan_chan_name": (ctypes.c_char_p, [_handle_p]),
    "netchan_chan_error": (ctypes.c_char_p, [_handle_p]),
    "netchan_chan_fd": (ctypes.c_int, [_handle_p]),
    "netchan_chan_stat": (ctypes.c_uint64, [_handle_p, ctypes.c_int]),
    "netchan_stat_name": (ctypes.c_char_p, [ctypes.c_int]),
}


def _candidates() -> list[str]:
    """List the names and paths to try, in order."""
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        # An explicit path is the only candidate, so a wrong path fails instead of silently
        # loading another copy of the library.
        return [explicit]
    candidates = []
    found = ctypes.util.find_library("netchan")
    if found:
        candidates.append(found)
    candidates.append(SONAME)
    return candidates


def _load() -> tuple[ctypes.CDLL, str]:
    failures = []
    for candidate in _candidates():
        try:
            library = ctypes.CDLL(candidate)
        except OSError as error:
            failures.append(f"{candidate}: {error}")
            continue
        return library, candidate
    raise ImportError(
        "cannot load libnetchan ("
        + "; ".join(failures)
        + f"). Build or install the C library, or set {LIBRARY_ENV} to the path of "
        "libnetchan.so, for example build/lib/libnetchan.so."
    )


def _declare(library: ctypes.CDLL, path: str) -> None:
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            function = getattr(library, name)
        except AttributeError:
            raise ImportError(
                f"{path} has no function {name}: the library is older than this binding; "
                "rebuild or upgrade libnetchan"
            ) from None
        function.restype = restype
        function.argtypes = argtypes


lib, path = _load()
_declare(lib, path)


def decode(text: bytes | None) -> str:
    """Convert a C string from the library to str, mapping NULL to ""."""
    if text is None:
        return ""
    return text.decode("utf-8", errors="replace")


def encode(text: str, argument: str) -> bytes:
    """Convert str to a NUL-terminated C string argument, rejecting embedded NULs."""
    if not isinstance(text, str):
        raise TypeError(f"{argument} must be str, not {type(text).__name__}")
    data = text.encode("utf-8")
    if b"\0" in data:
        raise ValueError(f"{argument} must not contain NUL characters: {text!r}")
    return data
