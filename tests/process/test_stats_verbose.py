"""The CLI's --stats and -v: the statistics line at exit matches what crossed the channel, and -v
logs the library's start, session and stop lines on stderr while silence stays the default."""
import re
import subprocess

from harness import Cli, check, run_tests

BIND = "tcp://127.0.0.1:*"

STATS_LINE = re.compile(r"^netchan: stats of '(?P<name>[^']+)':(?P<pairs>( [a-z_]+=\d+)+)$")


def stats_of(cli):
    """Returns the name=value pairs of the CLI's statistics line as a dict."""
    lines = [line for line in cli.stderr.text.splitlines() if STATS_LINE.match(line)]
    check(len(lines) == 1, f"expected one statistics line, got {cli.stderr.text!r}")
    pairs = STATS_LINE.match(lines[0]).group("pairs").split()
    return {key: int(value) for key, value in (pair.split("=") for pair in pairs)}


def stats_match_transfer(cli_path):
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--send", "n", "--stats"],
                   stdin=subprocess.PIPE)
    endpoint = exporter.wait_exporting()
    importer = Cli(cli_path, ["import", "--connect", endpoint, "--recv", "n", "--stats"])
    exporter.proc.stdin.write(b"".join(b"%d\n" % i for i in range(1, 101)))
    exporter.proc.stdin.close()
    exporter.expect_exit(0)
    importer.expect_exit(0)

    sent = stats_of(exporter)
    check(sent["sent"] == 100, f"exporter sent={sent['sent']}")
    check(sent["acknowledged"] == 100, f"exporter acknowledged={sent['acknowledged']}")
    check(sent["pending"] == 0, f"exporter pending={sent['pending']}")
    check(sent["in_flight"] == 0, f"exporter in_flight={sent['in_flight']}")
    received = stats_of(importer)
    check(received["received"] == 100, f"importer received={received['received']}")
    check(received["taken"] == 100, f"importer taken={received['taken']}")
    check(received["acknowledged"] == 100, f"importer acknowledged={received['acknowledged']}")


def verbose_logs_lifecycle(cli_path):
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--send", "n", "-v"],
                   stdin=subprocess.PIPE)
    endpoint = exporter.wait_exporting()
    quiet = Cli(cli_path, ["import", "--connect", endpoint, "--recv", "n", "--count", "1"])
    exporter.proc.stdin.write(b"one\n")
    exporter.proc.stdin.close()
    quiet.expect_exit(0)
    exporter.expect_exit(0)

    log = exporter.stderr.text
    check("netchan: info: exporter: listening on" in log, f"no start line in {log!r}")
    check("connected" in log, f"no session line in {log!r}")
    check("netchan: info: exporter: stopping" in log, f"no stop line in {log!r}")
    check("netchan: info:" not in quiet.stderr.text,
          f"the importer without -v logged: {quiet.stderr.text!r}")


if __name__ == "__main__":
    run_tests([stats_match_transfer, verbose_logs_lifecycle])
