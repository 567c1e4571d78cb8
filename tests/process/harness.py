"""Shared helpers for the process tests of the netchan CLI.

Each test script takes the path of the built `netchan` executable as its only argument, runs the
CLI as real processes over tcp://127.0.0.1 (ports picked by the system) or ipc:// in a temporary
directory, and prints TAP. Every wait has a bound: a process that does not exit or print in time
fails the test instead of hanging it.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback

# How long a step may take before the test fails. Generous, because the machines that run the
# tests are shared: a step that needs this long is broken, not slow.
STEP_TIMEOUT = 30.0

EXPORTING_LINE = re.compile(rb"^netchan: exporting '([^']*)' on (\S+)$", re.MULTILINE)


class StreamReader:
    """Reads a child's output pipe on a thread and keeps its complete lines (without newline).

    Output after the last newline, such as half a line written by a killed process, is kept
    apart in `partial` and is not a line.
    """

    def __init__(self, stream):
        self._stream = stream
        self._lines = []
        self._partial = b""
        self._ended = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        pending = b""
        while True:
            chunk = self._stream.read1(65536)
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            with self._condition:
                self._lines.extend(complete)
                self._partial = pending
                self._condition.notify_all()
        with self._condition:
            self._ended = True
            self._condition.notify_all()

    def wait_lines(self, count, timeout):
        """Waits until there are at least count lines or the stream ended.

        Returns the number of lines. Raises TimeoutError when neither happens in time.
        """
        with self._condition:
            ready = self._condition.wait_for(
                lambda: len(self._lines) >= count or self._ended, timeout
            )
            if not ready:
                raise TimeoutError(f"only {len(self._lines)} of {count} lines after {timeout} s")
            return len(self._lines)

    def wait_match(self, pattern, timeout):
        """Waits until the output read so far matches the compiled bytes pattern.

        Returns the match, or None when the stream ended without one. Raises TimeoutError.
        """
        with self._condition:
            match = None

            def found():
                nonlocal match
                match = pattern.search(b"\n".join(self._lines + [self._partial]))
                return match is not None or self._ended

            if not self._condition.wait_for(found, timeout):
                raise TimeoutError(f"no output matching {pattern.pattern!r} after {timeout} s")
            return match

    def join(self, timeout):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"output pipe still open after {timeout} s")

    @property
    def lines(self):
        with self._condition:
            return list(self._lines)

    @property
    def partial(self):
        with self._condition:
            return self._partial

    @property
    def text(self):
        with self._condition:
            return b"\n".join(self._lines + [self._partial]).decode(errors="replace")


# Every process started by the tests of this script, so that none outlives its test.
_started = []


class Cli:
    """One netchan CLI process with its stdout and stderr read in the background."""

    def __init__(self, cli_path, args, stdin=subprocess.DEVNULL):
        self.args = list(args)
        self.proc = subprocess.Popen(
            [cli_path, *self.args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.stdout = StreamReader(self.proc.stdout)
        self.stderr = StreamReader(self.proc.stderr)
        self.killed = False
        _started.append(self)

    def describe(self):
        return "netchan " + " ".join(self.args)

    def running(self):
        return self.proc.poll() is None

    def wait_exporting(self, timeout=STEP_TIMEOUT):
        """Waits for the exporter's start line and returns the endpoint it names."""
        match = self.stderr.wait_match(EXPORTING_LINE, timeout)
        if match is None:
            raise AssertionError(
                f"{self.describe()} exited with {self.proc.poll()} before exporting; "
                f"stderr: {self.stderr.text!r}"
            )
        return match.group(2).decode()

    def signal(self, number):
        if self.running():
            self.proc.send_signal(number)

    def kill(self):
        """Sends SIGKILL unless the process has already exited."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.killed = True

    def finish(self, timeout=STEP_TIMEOUT):
        """Waits for the process to exit and its pipes to close; returns the exit status."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.describe()} still running after {timeout} s; stderr: {self.stderr.text!r}"
            ) from None
        self.stdout.join(timeout)
        self.stderr.join(timeout)
        return status

    def expect_exit(self, expected, timeout=STEP_TIMEOUT):
        status = self.finish(timeout)
        if status != expected:
            raise AssertionError(
                f"{self.describe()} exited with {status}, expected {expected}; "
                f"stderr: {self.stderr.text!r}"
            )


def feed_lines(cli, lines):
    """Writes lines (str) to cli's stdin on a thread and closes it. Returns the thread."""

    def write():
        try:
            for start in range(0, len(lines), 1000):
                chunk = "".join(line + "\n" for line in lines[start : start + 1000])
                cli.proc.stdin.write(chunk.encode())
            cli.proc.stdin.close()
        except BrokenPipeError:
            pass  # the process exited early, and its exit status shows why

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def decode_lines(lines):
    return [line.decode() for line in lines]


def describe_difference(actual, expected):
    """Describes how two lists of values differ, briefly enough for a failure message."""
    actual_set, expected_set = set(actual), set(expected)
    position = {value: index for index, value in enumerate(expected)}
    missing = sorted(expected_set - actual_set, key=position.get)
    extra = [value for value in actual if value not in expected_set]
    duplicated = len(actual) - len(actual_set)
    first = next(
        (i for i, (a, e) in enumerate(zip(actual, expected)) if a != e),
        min(len(actual), len(expected)),
    )
    return (
        f"{len(actual)} values, expected {len(expected)}; missing {len(missing)} "
        f"(first {missing[:5]}), unexpected {len(extra)} (first {extra[:5]}), "
        f"duplicated {duplicated}; first difference at index {first}"
    )


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def run_tests(tests):
    """Runs each test function with the CLI path from the command line and prints TAP.

    Exits 1 when any test failed. Processes a test leaves running are killed after it.
    """
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        print(f"usage: {sys.argv[0]} PATH_TO_NETCHAN_CLI", file=sys.stderr)
        sys.exit(2)
    cli_path = sys.argv[1]

    print(f"1..{len(tests)}", flush=True)
    failures = 0
    for number, test in enumerate(tests, start=1):
        name = test.__name__.replace("_", " ")
        started = time.monotonic()
        try:
            test(cli_path)
        except Exception:
            failures += 1
            print(f"not ok {number} - {name}")
            for line in traceback.format_exc().splitlines():
                print(f"# {line}")
        else:
            print(f"ok {number} - {name}")
            print(f"# {name}: {time.monotonic() - started:.1f} s")
        finally:
            for cli in _started:
                cli.kill()
                cli.proc.wait()
            _started.clear()
        sys.stdout.flush()
    sys.exit(1 if failures else 0)
