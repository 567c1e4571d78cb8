"""Helpers shared by the tests and the child programs they start.

Child programs in programs/ import this module too, with the tests folder on PYTHONPATH.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

TESTS_DIR = Path(__file__).resolve().parent
PROGRAMS_DIR = TESTS_DIR / "programs"
PROTO_DIR = TESTS_DIR / "proto"
PROTO_FILES = ["values.proto", "legacy.proto", "bare.proto"]

# How long one step of a test may take before it fails. Generous, because the machines that
# run the tests are shared: a step that needs this long is broken, not slow.
STEP_TIMEOUT = 30.0


def wait_for(
    condition: Callable[[], bool], timeout: float = STEP_TIMEOUT, description: str = ""
) -> None:
    """Poll condition until it holds; raise AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {description or condition}"
            )
        time.sleep(0.01)


def descriptor_set_path() -> Path:
    """Return a FileDescriptorSet of the test .proto files, compiling it with protoc-c if needed.

    meson passes a set built at build time in NETCHAN_TEST_DESCRIPTORS; otherwise protoc-c (from
    PATH or NETCHAN_PROTOC_C) compiles one into a temporary folder.
    """
    built = os.environ.get("NETCHAN_TEST_DESCRIPTORS")
    if built:
        return Path(built)
    protoc_c = os.environ.get("NETCHAN_PROTOC_C") or shutil.which("protoc-c")
    if protoc_c is None:
        raise FileNotFoundError(
            "protoc-c not found: install protobuf-c-compiler or set NETCHAN_TEST_DESCRIPTORS"
        )
    output = Path(tempfile.mkdtemp(prefix="netchan-pytest-")) / "test_types.desc"
    subprocess.run(
        [
            protoc_c,
            f"--proto_path={PROTO_DIR}",
            "--include_imports",
            f"--descriptor_set_out={output}",
            *PROTO_FILES,
        ],
        check=True,
        cwd=PROTO_DIR,
    )
    os.environ["NETCHAN_TEST_DESCRIPTORS"] = str(output)
    return output


class ProtoTypes:
    """Python message classes of the test .proto files, built from their FileDescriptorSet."""

    def __init__(self, path: Path) -> None:
        from google.protobuf import descriptor_pb2, descriptor_pool

        files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
        self.pool = descriptor_pool.DescriptorPool()
        for file_proto in files.file:
            self.pool.AddSerializedFile(file_proto.SerializeToString())
        self._classes: dict[str, type] = {}

    def get(self, full_name: str) -> type:
        """Return the message class of a full name such as "netchan.pytest.Point"."""
        if full_name not in self._classes:
            descriptor = self.pool.FindMessageTypeByName(full_name)
            try:
                from google.protobuf.message_factory import GetMessageClass
            except ImportError:  # protobuf before 4.22
                from google.protobuf.message_factory import MessageFactory

                cls = MessageFactory(self.pool).GetPrototype(descriptor)
            else:
                cls = GetMessageClass(descriptor)
            self._classes[full_name] = cls
        return self._classes[full_name]

    @property
    def Point(self) -> type:
        return self.get("netchan.pytest.Point")

    @property
    def Other(self) -> type:
        return self.get("netchan.pytest.Other")

    @property
    def Everything(self) -> type:
        return self.get("netchan.pytest.Everything")


def load_test_types() -> ProtoTypes:
    return ProtoTypes(descriptor_set_path())


class Child:
    """A child process whose stdout and stderr lines are read on threads, for bounded waits."""

    def __init__(self, args: list[str], stdin: bytes | None = None, env: dict | None = None):
        self.args = args
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.stdout: queue.Queue[bytes | None] = queue.Queue()
        self.stderr_lines: list[bytes] = []
        self._stderr_changed = threading.Condition()
        self._threads = [
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if stdin is not None:
            threading.Thread(target=self._feed, args=(stdin,), daemon=True).start()

    def _feed(self, data: bytes) -> None:
        try:
            self.process.stdin.write(data)
            self.process.stdin.close()
        except BrokenPipeError:
            pass

    def _pump_stdout(self) -> None:
        for line in self.process.stdout:
            self.stdout.put(line.rstrip(b"\n"))
        self.stdout.put(None)

    def _pump_stderr(self) -> None:
        for line in self.process.stderr:
            with self._stderr_changed:
                self.stderr_lines.append(line.rstrip(b"\n"))
                self._stderr_changed.notify_all()
        with self._stderr_changed:
            self.stderr_lines.append(None)
            self._stderr_changed.notify_all()

    def read_line(self, timeout: float = STEP_TIMEOUT) -> bytes | None:
        """Return the next stdout line, or None at end of output; fail after timeout."""
        try:
            return self.stdout.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"{self.args[0]} wrote no line within {timeout} s; stderr: {self.stderr()}"
            ) from None

    def read_all(self, timeout: float = STEP_TIMEOUT) -> list[bytes]:
        """Return the remaining stdout lines up to end of output."""
        lines = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.0, deadline - time.monotonic()))
            if line is None:
                return lines
            lines.append(line)

    def wait_stderr(self, predicate: Callable[[bytes], bool], timeout: float = STEP_TIMEOUT):
        """Return the first stderr line for which predicate holds."""
        deadline = time.monotonic() + timeout
        with self._stderr_changed:
            while True:
                for line in self.stderr_lines:
                    if line is not None and predicate(line):
                        return line
                if None in self.stderr_lines:
                    raise AssertionError(f"{self.args[0]} ended; stderr: {self.stderr()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{self.args[0]} printed no such line in {timeout} s: {self.stderr()}"
                    )
                self._stderr_changed.wait(remaining)

    def stderr(self) -> str:
        with self._stderr_changed:
            return b"\n".join(line for line in self.stderr_lines if line is not None).decode(
                errors="replace"
            )

    def wait(self, timeout: float = STEP_TIMEOUT) -> int:
        """Wait for the process to exit and return its status; kill it and fail after timeout."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.args} did not exit within {timeout} s; stderr: {self.stderr()}"
            ) from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(STEP_TIMEOUT)


def python_child(program: str, *args: str) -> Child:
    """Start programs/<program> with this interpreter and the tests folder importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env["PYTHONUNBUFFERED"] = "1"
    return Child([sys.executable, str(PROGRAMS_DIR / program), *args], env=env)
