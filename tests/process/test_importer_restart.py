"""An exporter kept running while importer processes come and go one after another.

The exporter sends 1..20000 from a pipe. Twenty importers run in turn, each printing 1000 values
and exiting. Values an importer had received but not printed when it exited are handed back, so
the next importer starts exactly where the previous one stopped: together they print every value
once, in order.
"""

import subprocess

from harness import Cli, check, decode_lines, describe_difference, feed_lines, run_tests

VALUES = 20000
IMPORTERS = 20
PER_IMPORTER = VALUES // IMPORTERS


def importers_in_turn_print_every_value_once(cli_path):
    values = [str(n) for n in range(1, VALUES + 1)]
    exporter = Cli(
        cli_path,
        ["export", "--bind", "tcp://127.0.0.1:*", "--send", "numbers"],
        stdin=subprocess.PIPE,
    )
    feeder = feed_lines(exporter, values)
    endpoint = exporter.wait_exporting()

    printed = []
    for index in range(IMPORTERS):
        importer = Cli(
            cli_path,
            ["import", "--connect", endpoint, "--recv", "numbers", "--count", str(PER_IMPORTER)],
        )
        importer.expect_exit(0)
        lines = decode_lines(importer.stdout.lines)
        check(
            len(lines) == PER_IMPORTER,
            f"importer {index + 1} printed {len(lines)} values, expected {PER_IMPORTER}",
        )
        check(importer.stdout.partial == b"", f"importer {index + 1} left a line unfinished")
        printed.extend(lines)

    check(printed == values, "importers together printed " + describe_difference(printed, values))
    exporter.expect_exit(0)
    feeder.join(5)


if __name__ == "__main__":
    run_tests([importers_in_turn_print_every_value_once])
