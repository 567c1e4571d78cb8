"""A small transfer over ipc://, with the importer started before its exporter.

The importer finds no exporter at the endpoint, prints on stderr that it is waiting, and binds
once the exporter appears.
"""

import os
import re
import subprocess
import tempfile

from harness import Cli, check, decode_lines, describe_difference, feed_lines, run_tests

WAITING_LINE = re.compile(rb"^netchan: waiting for an exporter at (\S+)$", re.MULTILINE)


def ipc_transfer_after_waiting(cli_path):
    values = [f"value {n}" for n in range(1, 501)]
    with tempfile.TemporaryDirectory(prefix="netchan-ipc-") as directory:
        endpoint = "ipc://" + os.path.join(directory, "numbers.sock")

        importer = Cli(cli_path, ["import", "--connect", endpoint, "--recv", "numbers"])
        waiting = importer.stderr.wait_match(WAITING_LINE, 30)
        check(waiting is not None, f"no waiting notice; stderr: {importer.stderr.text!r}")
        check(waiting.group(1).decode() == endpoint, f"waiting notice names {waiting.group(1)}")

        exporter = Cli(
            cli_path, ["export", "--bind", endpoint, "--send", "numbers"], stdin=subprocess.PIPE
        )
        feed_lines(exporter, values)
        check(
            exporter.wait_exporting() == endpoint,
            f"exporter reported another endpoint: {exporter.stderr.text!r}",
        )

        importer.expect_exit(0)
        exporter.expect_exit(0)
        printed = decode_lines(importer.stdout.lines)
        check(printed == values, "importer printed " + describe_difference(printed, values))


if __name__ == "__main__":
    run_tests([ipc_transfer_after_waiting])
