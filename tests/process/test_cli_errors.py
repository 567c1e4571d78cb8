"""Exit statuses and error messages of the netchan CLI.

A usage error exits 2 and prints the usage on stderr. A runtime error exits 1 with one stderr
line that names the channel and endpoint involved. --help prints the usage on stdout and exits 0.
"""

import re
import subprocess

from harness import STEP_TIMEOUT, Cli, check, run_tests

BIND = "tcp://127.0.0.1:*"

USAGE_ERRORS = [
    [],
    ["serve"],
    ["export", "--send", "x"],
    ["export", "--bind", BIND],
    ["export", "--bind", BIND, "--send", "x", "--recv", "y"],
    ["export", "--connect", "tcp://127.0.0.1:1", "--send", "x"],
    ["import", "--bind", BIND, "--recv", "x"],
    ["import", "--connect", "tcp://127.0.0.1:1", "--recv", ""],
    ["export", "--bind", BIND, "--send", "x", "--capacity", "0"],
    ["export", "--bind", BIND, "--send", "x", "--capacity", "2000000"],
    ["export", "--bind", BIND, "--send", "x", "--capacity", "ten"],
    ["export", "--bind", BIND, "--send", "x", "--drain-timeout", "-1"],
    ["export", "--bind", BIND, "--recv", "x", "--drain-timeout", "1"],
    ["import", "--connect", "tcp://127.0.0.1:1", "--send", "x", "--count", "3"],
    ["import", "--connect", "tcp://127.0.0.1:1", "--recv", "x", "--count", "0"],
    ["import", "--connect", "tcp://127.0.0.1:1", "--recv", "x", "--loud"],
    ["import", "--connect", "tcp://127.0.0.1:1", "--recv", "x", "extra"],
    ["import", "--connect"],
]


def run_cli(cli_path, args, stdin=b""):
    return subprocess.run(
        [cli_path, *args], input=stdin, capture_output=True, timeout=STEP_TIMEOUT
    )


def usage_errors_exit_2(cli_path):
    for args in USAGE_ERRORS:
        result = run_cli(cli_path, args)
        check(result.returncode == 2, f"netchan {args} exited with {result.returncode}, expected 2")
        check(b"Usage:" in result.stderr, f"netchan {args} printed no usage: {result.stderr!r}")
        check(result.stderr.startswith(b"netchan: "), f"netchan {args}: {result.stderr!r}")
        check(result.stdout == b"", f"netchan {args} printed to stdout: {result.stdout!r}")


def help_prints_usage_to_stdout(cli_path):
    for args in (["--help"], ["export", "--help"], ["import", "--connect", "x", "--help"]):
        result = run_cli(cli_path, args)
        check(result.returncode == 0, f"netchan {args} exited with {result.returncode}")
        check(result.stdout.startswith(b"Usage:"), f"netchan {args} printed {result.stdout!r}")
        check(b"--drain-timeout SECONDS" in result.stdout, "the help omits --drain-timeout")
        check(result.stderr == b"", f"netchan {args} printed to stderr: {result.stderr!r}")


def unknown_channel_exits_1(cli_path):
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--send", "numbers"], stdin=subprocess.PIPE)
    endpoint = exporter.wait_exporting()

    result = run_cli(cli_path, ["import", "--connect", endpoint, "--recv", "nosuch"])

    check(result.returncode == 1, f"import of a missing channel exited with {result.returncode}")
    lines = result.stderr.decode().splitlines()
    check(len(lines) == 1, f"expected one stderr line, got {lines}")
    check("'nosuch'" in lines[0], f"the error does not name the channel: {lines[0]!r}")
    check(endpoint in lines[0], f"the error does not name the endpoint: {lines[0]!r}")
    exporter.proc.stdin.close()
    exporter.expect_exit(0)


def direction_mismatch_exits_1(cli_path):
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--send", "numbers"], stdin=subprocess.PIPE)
    endpoint = exporter.wait_exporting()

    result = run_cli(cli_path, ["import", "--connect", endpoint, "--send", "numbers"], b"1\n")

    check(result.returncode == 1, f"a second sender exited with {result.returncode}")
    lines = result.stderr.decode().splitlines()
    check(len(lines) == 1, f"expected one stderr line, got {lines}")
    check("'numbers'" in lines[0], f"the error does not name the channel: {lines[0]!r}")
    exporter.proc.stdin.close()
    exporter.expect_exit(0)


def drain_timeout_reports_unacknowledged(cli_path):
    result = run_cli(
        cli_path,
        ["export", "--bind", BIND, "--send", "numbers", "--drain-timeout", "1"],
        b"1\n2\n3\n",
    )

    check(result.returncode == 1, f"exited with {result.returncode}, expected 1")
    stderr = result.stderr.decode()
    match = re.search(r"^netchan: (\d+) values on 'numbers' at (\S+) still unacknowledged", stderr,
                      re.MULTILINE)
    check(match is not None, f"no unacknowledged count in {stderr!r}")
    check(match.group(1) == "3", f"reported {match.group(1)} unacknowledged values, expected 3")
    check("*" not in match.group(2), f"the error names the unresolved endpoint {match.group(2)}")


def line_too_long_exits_1(cli_path):
    long_line = b"x" * (1024 * 1024 + 1) + b"\n"
    result = run_cli(
        cli_path,
        ["export", "--bind", BIND, "--send", "numbers", "--drain-timeout", "1"],
        b"short\n" + long_line,
    )

    check(result.returncode == 1, f"exited with {result.returncode}, expected 1")
    stderr = result.stderr.decode()
    check(
        "line 2 of stdin is longer than the maximum value size" in stderr,
        f"no error for the long line in {stderr!r}",
    )
    check("'numbers'" in stderr, f"the error does not name the channel: {stderr!r}")


def bind_failure_exits_1(cli_path):
    endpoint = "tcp://127.0.0.1:notaport"
    result = run_cli(cli_path, ["export", "--bind", endpoint, "--send", "numbers"])

    check(result.returncode == 1, f"exited with {result.returncode}, expected 1")
    lines = result.stderr.decode().splitlines()
    check(len(lines) == 1, f"expected one stderr line, got {lines}")
    check(endpoint in lines[0], f"the error does not name the endpoint: {lines[0]!r}")
    check("'numbers'" in lines[0], f"the error does not name the channel: {lines[0]!r}")


if __name__ == "__main__":
    run_tests(
        [
            usage_errors_exit_2,
            help_prints_usage_to_stdout,
            unknown_channel_exits_1,
            direction_mismatch_exits_1,
            drain_timeout_reports_unacknowledged,
            line_too_long_exits_1,
            bind_failure_exits_1,
        ]
    )
