"""Forwarding of the C library's log messages to Python's logging module."""

from __future__ import annotations

import atexit
import logging
import threading

from . import _lib

lib = _lib.lib

# netchan_log_level values and the logging levels they map to.
_LEVELS = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG}

_lock = threading.Lock()
_callback = None  # the installed ctypes callback, kept alive while the library may call it
_logger = logging.getLogger("netchan")


def _max_level(level: int) -> int:
    """Return the most verbose netchan_log_level whose messages pass a logging level."""
    if level <= logging.DEBUG:
        return 4
    if level <= logging.INFO:
        return 3
    if level <= logging.WARNING:
        return 2
    return 1


def _forward(level: int, message: bytes, _user: object) -> None:
    # Called on the library's engine threads. An exception must not escape into C.
    try:
        _logger.log(_LEVELS.get(level, logging.ERROR), "%s", _lib.decode(message))
    except Exception:
        pass


def enable_logging(level: int = logging.INFO, logger: logging.Logger | None = None) -> None:
    """Forward the C library's log messages at level and above to a Python logger.

    The library logs its engine's starts and stops, reconnects, lost sessions and the errors it
    handles itself, never per value. Messages go to logger, by default the logger "netchan".
    Affects every exporter and importer of the process.
    """
    global _callback, _logger
    with _lock:
        if logger is not None:
            _logger = logger
        if _callback is None:
            _callback = _lib.LOG_FUNCTION(_forward)
        lib.netchan_set_log_handler(_callback, _max_level(level), None)


def disable_logging() -> None:
    """Stop forwarding log messages; the library is silent again."""
    global _callback
    with _lock:
        if _callback is None:
            return
        # The library calls the handler under a mutex, so once this returns no call of the old
        # callback is running and it can be freed.
        lib.netchan_set_log_handler(_lib.LOG_FUNCTION(), 0, None)
        _callback = None


# Engine threads must not call into an interpreter that is shutting down.
atexit.register(disable_logging)
