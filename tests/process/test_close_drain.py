"""Closing and draining channels from either side through the CLI, fan-in, and signals.

A sending CLI closes its channel at end of input and exits 0 once every value is acknowledged. A
receiving CLI exits 0 when the sender's close reaches it. SIGINT and SIGTERM end either side the
same way, and a second signal stops a sender's wait for acknowledgements.
"""

import re
import signal
import subprocess

from harness import Cli, check, decode_lines, describe_difference, feed_lines, run_tests

IMPORTING_LINE = re.compile(rb"^netchan: importing '[^']*' from \S+$", re.MULTILINE)
BIND = "tcp://127.0.0.1:*"


def importer_sends_to_exporter(cli_path):
    values = ["first", "", "a value with spaces", "last"]
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--recv", "lines"])
    endpoint = exporter.wait_exporting()

    importer = Cli(
        cli_path, ["import", "--connect", endpoint, "--send", "lines"], stdin=subprocess.PIPE
    )
    feed_lines(importer, values)

    importer.expect_exit(0)
    exporter.expect_exit(0)
    printed = decode_lines(exporter.stdout.lines)
    check(printed == values, "exporter printed " + describe_difference(printed, values))
    check(importer.stdout.lines == [], "a sending importer printed to stdout")


def exporter_sends_to_importer(cli_path):
    values = [str(n) for n in range(1, 51)]
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--send", "lines"], stdin=subprocess.PIPE)
    feed_lines(exporter, values)
    endpoint = exporter.wait_exporting()

    importer = Cli(cli_path, ["import", "--connect", endpoint, "--recv", "lines"])

    importer.expect_exit(0)
    exporter.expect_exit(0)
    printed = decode_lines(importer.stdout.lines)
    check(printed == values, "importer printed " + describe_difference(printed, values))


def last_line_without_newline_is_a_value(cli_path):
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--recv", "lines"])
    endpoint = exporter.wait_exporting()

    importer = Cli(
        cli_path, ["import", "--connect", endpoint, "--send", "lines"], stdin=subprocess.PIPE
    )
    importer.proc.stdin.write(b"one\ntwo")
    importer.proc.stdin.close()

    importer.expect_exit(0)
    exporter.expect_exit(0)
    check(exporter.stdout.lines == [b"one", b"two"], f"exporter printed {exporter.stdout.text!r}")
    check(exporter.stdout.partial == b"", "the exporter left the last line without a newline")


def idle_sender_end_reaches_exporter(cli_path):
    # The importer's values are printed and acknowledged well before its end of input, so its
    # close, drain and session end follow one another at once. Several rounds, because the
    # exporter's view of the end depends on how those messages interleave.
    for round_number in range(1, 6):
        exporter = Cli(cli_path, ["export", "--bind", BIND, "--recv", "lines"])
        endpoint = exporter.wait_exporting()
        importer = Cli(
            cli_path, ["import", "--connect", endpoint, "--send", "lines"], stdin=subprocess.PIPE
        )
        importer.proc.stdin.write(b"1\n2\n")
        importer.proc.stdin.flush()
        exporter.stdout.wait_lines(2, 30)

        importer.proc.stdin.close()

        importer.expect_exit(0)
        exporter.expect_exit(0)
        check(
            exporter.stdout.lines == [b"1", b"2"],
            f"round {round_number}: exporter printed {exporter.stdout.text!r}",
        )


def three_importers_fan_in(cli_path):
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--recv", "merged"])
    endpoint = exporter.wait_exporting()

    # All three bind before any sends, so that the exporter receives the end of the stream only
    # after the last of them has closed.
    importers = []
    for _ in range(3):
        importer = Cli(
            cli_path, ["import", "--connect", endpoint, "--send", "merged"], stdin=subprocess.PIPE
        )
        check(
            importer.stderr.wait_match(IMPORTING_LINE, 30) is not None,
            f"importer exited before binding; stderr: {importer.stderr.text!r}",
        )
        importers.append(importer)

    sent = {}
    for number, importer in enumerate(importers, start=1):
        sent[number] = [f"{number}:{n}" for n in range(1, 301)]
        feed_lines(importer, sent[number])

    for importer in importers:
        importer.expect_exit(0)
    exporter.expect_exit(0)

    printed = decode_lines(exporter.stdout.lines)
    for number, values in sent.items():
        from_importer = [value for value in printed if value.startswith(f"{number}:")]
        check(
            from_importer == values,
            f"values of importer {number}: " + describe_difference(from_importer, values),
        )
    check(len(printed) == 900, f"exporter printed {len(printed)} values, expected 900")


def sigterm_ends_receiving_exporter(cli_path):
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--recv", "lines"])
    exporter.wait_exporting()

    exporter.signal(signal.SIGTERM)

    exporter.expect_exit(0)


def sigint_ends_receiving_importer(cli_path):
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--send", "lines"], stdin=subprocess.PIPE)
    endpoint = exporter.wait_exporting()
    exporter.proc.stdin.write(b"1\n2\n3\n")
    exporter.proc.stdin.flush()
    importer = Cli(cli_path, ["import", "--connect", endpoint, "--recv", "lines"])
    importer.stdout.wait_lines(3, 30)

    importer.signal(signal.SIGINT)

    importer.expect_exit(0)
    check(importer.stdout.lines == [b"1", b"2", b"3"], f"printed {importer.stdout.text!r}")
    exporter.proc.stdin.close()
    exporter.expect_exit(0)


def sigint_ends_sending_importer(cli_path):
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--recv", "lines"])
    endpoint = exporter.wait_exporting()
    importer = Cli(
        cli_path, ["import", "--connect", endpoint, "--send", "lines"], stdin=subprocess.PIPE
    )
    importer.proc.stdin.write(b"1\n2\n3\n")
    importer.proc.stdin.flush()
    exporter.stdout.wait_lines(3, 30)

    importer.signal(signal.SIGINT)

    importer.expect_exit(0)
    check(
        "stopped reading stdin after 3 values" in importer.stderr.text,
        f"no notice of the interruption; stderr: {importer.stderr.text!r}",
    )
    exporter.expect_exit(0)
    check(exporter.stdout.lines == [b"1", b"2", b"3"], f"printed {exporter.stdout.text!r}")


def second_signal_stops_drain(cli_path):
    # No importer ever connects, so the values stay unacknowledged and the drain cannot end.
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--send", "lines"], stdin=subprocess.PIPE)
    exporter.wait_exporting()
    exporter.proc.stdin.write(b"1\n2\n3\n")
    exporter.proc.stdin.close()
    waiting = re.compile(rb"waiting for 3 values on 'lines' .* to be acknowledged")
    check(
        exporter.stderr.wait_match(waiting, 30) is not None,
        f"no notice of the wait; stderr: {exporter.stderr.text!r}",
    )

    exporter.signal(signal.SIGINT)
    again = re.compile(rb"interrupted; waiting for 3 values .* interrupt again to stop waiting")
    check(
        exporter.stderr.wait_match(again, 30) is not None,
        f"the first signal ended the wait; stderr: {exporter.stderr.text!r}",
    )
    exporter.signal(signal.SIGINT)

    exporter.expect_exit(1)
    check(
        re.search(r"3 values on 'lines' .* still unacknowledged when interrupted",
                  exporter.stderr.text) is not None,
        f"no unacknowledged count; stderr: {exporter.stderr.text!r}",
    )


if __name__ == "__main__":
    run_tests(
        [
            importer_sends_to_exporter,
            exporter_sends_to_importer,
            last_line_without_newline_is_a_value,
            idle_sender_end_reaches_exporter,
            three_importers_fan_in,
            sigterm_ends_receiving_exporter,
            sigint_ends_receiving_importer,
            sigint_ends_sending_importer,
            second_signal_stops_drain,
        ]
    )
