"""Python exporters and importers in separate processes, and against the C command-line tool."""

import re
import signal

import pytest

import netchan
from helpers import Child, python_child, wait_for

EXPORTING = re.compile(rb"^netchan: exporting '([^']*)' on (\S+)$")


def read_endpoint(exporter: Child) -> str:
    line = exporter.read_line()
    assert line is not None and line.startswith(b"endpoint "), exporter.stderr()
    return line.split(b" ", 1)[1].decode()


@pytest.mark.parametrize(
    "typed, takes, close_flag",
    [
        (False, ["150", "1", "400", "37", "all"], ""),
        (True, ["250", "250", "all"], ""),
        (False, ["300", "200", "all"], "--no-close"),
    ],
    ids=["bytes", "typed", "exit-handler-closes"],
)
def test_importer_restarts_lose_nothing(types, typed, takes, close_flag):
    count = 1500
    flags = ["--typed"] if typed else []
    exporter = python_child("export_numbers.py", "tcp://127.0.0.1:*", str(count), *flags)
    try:
        endpoint = read_endpoint(exporter)
        received = []
        for take in takes:
            extra = [close_flag] if close_flag else []
            importer = python_child("import_some.py", endpoint, take, *flags, *extra)
            lines = importer.read_all()
            status = importer.wait()
            assert status == 0, importer.stderr()
            if take != "all":
                assert len(lines) == int(take), importer.stderr()
            received.extend(int(line) for line in lines)

        assert exporter.read_line() == b"drained"
        assert exporter.wait() == 0, exporter.stderr()
    finally:
        exporter.kill()

    missing = sorted(set(range(1, count + 1)) - set(received))
    assert missing == [], f"lost values {missing[:10]}"
    assert len(received) == len(set(received)), "duplicated values"
    assert received == list(range(1, count + 1))


def test_python_importer_from_cli_exporter(cli):
    count = 2000
    numbers = "".join(f"{n}\n" for n in range(1, count + 1)).encode()
    exporter = Child(
        [str(cli), "export", "--bind", "tcp://127.0.0.1:*", "--send", "numbers"], stdin=numbers
    )
    try:
        line = exporter.wait_stderr(lambda line: EXPORTING.match(line) is not None)
        endpoint = EXPORTING.match(line).group(2).decode()

        with netchan.Importer(connect=endpoint) as importer:
            channel = importer.import_("numbers", netchan.RECV, timeout=10)
            received = list(channel)

        assert received == [str(n).encode() for n in range(1, count + 1)]
        assert exporter.wait() == 0, exporter.stderr()
    finally:
        exporter.kill()


def test_python_exporter_to_cli_importer(cli):
    count = 2000
    with netchan.Exporter(bind="tcp://127.0.0.1:*") as exporter:
        channel = exporter.export("numbers", netchan.SEND)
        importer = Child(
            [
                str(cli),
                "import",
                "--connect",
                exporter.endpoint,
                "--recv",
                "numbers",
                "--count",
                str(count),
            ]
        )
        try:
            for n in range(1, count + 1):
                channel.send(str(n).encode(), timeout=10)
            lines = importer.read_all()
            assert importer.wait() == 0, importer.stderr()
        finally:
            importer.kill()
        channel.drain(timeout=10)

    assert lines == [str(n).encode() for n in range(1, count + 1)]


def test_python_importer_sends_to_cli_exporter(cli):
    count = 500
    exporter = Child([str(cli), "export", "--bind", "tcp://127.0.0.1:*", "--recv", "inbox"])
    try:
        line = exporter.wait_stderr(lambda line: EXPORTING.match(line) is not None)
        endpoint = EXPORTING.match(line).group(2).decode()

        with netchan.Importer(connect=endpoint) as importer:
            channel = importer.import_("inbox", netchan.SEND, timeout=10)
            for n in range(count):
                channel.send(b"line %d" % n, timeout=10)
            lines = [exporter.read_line() for _ in range(count)]
            channel.close()
            channel.drain(timeout=10)

        assert lines == [b"line %d" % n for n in range(count)]
        assert exporter.wait() == 0, exporter.stderr()
    finally:
        exporter.kill()


def test_cli_importer_rejects_typed_python_channel(cli, types):
    with netchan.Exporter(bind="tcp://127.0.0.1:*") as exporter:
        exporter.export("points", netchan.SEND, types.Point)
        importer = Child(
            [str(cli), "import", "--connect", exporter.endpoint, "--recv", "points", "--count", "1"]
        )
        try:
            status = importer.wait()
        finally:
            importer.kill()

    assert status == 1
    assert "netchan.pytest.Point" in importer.stderr()


def main_thread_waits_on_futex(pid: int) -> bool:
    """Tell whether the process's main thread sleeps in a futex wait, as in a blocked recv()."""
    with open(f"/proc/{pid}/wchan") as wchan:
        return "futex" in wchan.read()


def test_sigint_interrupts_blocked_recv():
    child = python_child("block_in_recv.py")
    try:
        assert child.read_line() == b"waiting", child.stderr()
        # The signal must arrive while the main thread waits inside the library, not before.
        wait_for(
            lambda: main_thread_waits_on_futex(child.process.pid),
            description="the child's recv() to block in the library",
        )
        child.process.send_signal(signal.SIGINT)

        assert child.read_line(timeout=10) == b"interrupted", child.stderr()
        assert child.wait() == 0, child.stderr()
    finally:
        child.kill()
