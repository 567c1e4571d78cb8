"""Waiting for a netchan readiness descriptor in an asyncio event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Callable

# Seconds that closing a handle waits for another thread's event loop to stop watching it.
ABORT_WAIT = 1.0


class FdWaiters:
    """Futures waiting for one file descriptor to become readable.

    The event loop allows one reader callback per descriptor, so all coroutines that wait on
    the same descriptor share one callback, which wakes them all. Every waiter then retries its
    non-blocking call, and those that still would block wait again.
    """

    def __init__(self, get_fd: Callable[[], int]) -> None:
        self._get_fd = get_fd
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._futures: set[asyncio.Future] = set()
        self._aborted: BaseException | None = None

    async def wait(self, timeout: float | None) -> bool:
        """Wait until the descriptor is readable; return False when timeout (seconds) ran out."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            if self._aborted is not None:
                raise self._aborted
            if self._loop is not None and self._loop is not loop:
                raise RuntimeError("a netchan handle is awaited from two event loops at once")
            if not self._futures:
                self._fd = self._get_fd()
                loop.add_reader(self._fd, self._wake)
                self._loop = loop
            self._futures.add(future)
        try:
            if timeout is None:
                await future
                return True
            try:
                await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                return False
            return True
        finally:
            self._discard(future)

    def _wake(self) -> None:
        with self._lock:
            futures = list(self._futures)
            self._futures.clear()
            self._remove_reader_locked()
        for future in futures:
            if not future.done():
                future.set_result(None)

    def _discard(self, future: asyncio.Future) -> None:
        with self._lock:
            self._futures.discard(future)
            if not self._futures:
                self._remove_reader_locked()

    def _remove_reader_locked(self) -> None:
        if self._loop is not None and self._fd >= 0 and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        self._loop = None
        self._fd = -1

    def abort(self, error: BaseException) -> None:
        """Fail every waiter with error and stop watching the descriptor, which is about to close.

        Called by the thread that closes the handle, before the descriptor closes. When that is
        not the event loop's thread, the reader is removed on the loop's thread, and this call
        waits up to ABORT_WAIT seconds for it, so that a later descriptor with the same number
        is never unregistered by mistake.
        """
        with self._lock:
            self._aborted = error
            loop = self._loop
            futures = list(self._futures)
            self._futures.clear()
            if loop is None:
                return
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop or loop.is_closed():
                self._remove_reader_locked()
                for future in futures:
                    if not future.done():
                        future.set_exception(error)
                return

        removed = threading.Event()

        def finish() -> None:
            with self._lock:
                self._remove_reader_locked()
            for future in futures:
                if not future.done():
                    future.set_exception(error)
            removed.set()

        loop.call_soon_threadsafe(finish)
        # NOTE: a loop that is not running never calls finish(). After ABORT_WAIT the handle is
        # closed anyway, and that loop keeps a reader on a closed descriptor.
        removed.wait(ABORT_WAIT)
