"""An exporter kept running while importer processes are killed with SIGKILL at random moments.

The exporter sends 1..20000 from a pipe. Importers run one after another; each is killed after
a random number of printed lines, until every value has been printed at least once. Importers
started after that run to the end of the stream. A killed importer cannot acknowledge what it
printed last, so the next importer may print those values again. Nothing may be lost, each
importer prints in increasing order, and only values a killed importer printed may appear
twice. NETCHAN_TEST_SEED fixes the random choices.
"""

import os
import random
import signal
import subprocess

from harness import STEP_TIMEOUT, Cli, check, feed_lines, run_tests

VALUES = 20000
MAX_KILL_AFTER = 2500
MAX_IMPORTERS = 200

# The importer's default channel capacity: the exporter never has more values in flight to one
# importer, so a kill can make at most this many values print again.
CAPACITY = 1024


def run_importer(cli_path, endpoint, kill_after, exporter):
    """Runs one importer. Kills it after kill_after printed lines, or, with kill_after None,
    lets it run until it exits or the exporter has exited. Returns the finished Cli."""
    importer = Cli(cli_path, ["import", "--connect", endpoint, "--recv", "numbers"])
    if kill_after is not None:
        importer.stdout.wait_lines(kill_after, STEP_TIMEOUT)
        importer.kill()
        importer.finish()
        return importer

    # An importer that connects after the exporter drained would wait for an exporter
    # forever, so once the exporter is gone it gets one SIGTERM, which ends it gracefully.
    stopped = False
    for _ in range(int(STEP_TIMEOUT / 0.2)):
        try:
            importer.proc.wait(0.2)
            break
        except subprocess.TimeoutExpired:
            if not stopped and not exporter.running():
                importer.signal(signal.SIGTERM)
                stopped = True
    importer.finish()
    return importer


def check_importer_output(index, importer):
    lines = importer.stdout.lines
    values = [int(line) for line in lines]
    for earlier, later in zip(values, values[1:]):
        check(
            earlier < later,
            f"importer {index} printed {later} after {earlier}; each importer must print "
            f"in increasing order",
        )
    check(
        all(1 <= value <= VALUES for value in values),
        f"importer {index} printed a value outside 1..{VALUES}",
    )
    if not importer.killed:
        check(
            importer.proc.returncode == 0,
            f"importer {index} exited with {importer.proc.returncode}; "
            f"stderr: {importer.stderr.text!r}",
        )
        check(importer.stdout.partial == b"", f"importer {index} left a line unfinished")
    return values


def killed_importers_cause_only_duplicates(cli_path):
    seed = int(os.environ.get("NETCHAN_TEST_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    print(f"# seed {seed}")

    exporter = Cli(
        cli_path,
        ["export", "--bind", "tcp://127.0.0.1:*", "--send", "numbers"],
        stdin=subprocess.PIPE,
    )
    feeder = feed_lines(exporter, [str(n) for n in range(1, VALUES + 1)])
    endpoint = exporter.wait_exporting()

    printed_by_survivors = [0] * (VALUES + 1)
    printed_by_killed = [0] * (VALUES + 1)
    unseen = set(range(1, VALUES + 1))
    outputs = []  # (killed, values) of each importer in turn
    importers = killed = 0
    while exporter.running():
        check(importers < MAX_IMPORTERS, f"exporter still running after {importers} importers")
        kill_after = rng.randint(1, MAX_KILL_AFTER) if unseen else None
        importer = run_importer(cli_path, endpoint, kill_after, exporter)
        importers += 1
        killed += importer.killed

        values = check_importer_output(importers, importer)
        counts = printed_by_killed if importer.killed else printed_by_survivors
        for value in values:
            counts[value] += 1
        unseen.difference_update(values)
        outputs.append((importer.killed, values))

    exporter.expect_exit(0)
    feeder.join(5)

    check(not unseen, f"{len(unseen)} values never printed, first {sorted(unseen)[:5]}")
    twice = [v for v in range(1, VALUES + 1) if printed_by_survivors[v] > 1]
    check(not twice, f"importers that were not killed printed {twice[:5]} more than once")
    printed_later = set()
    for index in range(len(outputs) - 1, -1, -1):
        was_killed, values = outputs[index]
        again = printed_later.intersection(values)
        check(
            was_killed or not again,
            f"importer {index + 1} exited normally, yet later importers printed "
            f"{sorted(again)[:5]} again",
        )
        check(
            len(again) <= CAPACITY,
            f"{len(again)} values printed by killed importer {index + 1} were printed again, "
            f"more than the capacity of {CAPACITY}",
        )
        printed_later.update(values)

    duplicates = sum(
        printed_by_killed[v] + printed_by_survivors[v] - 1 for v in range(1, VALUES + 1)
    )
    print(f"# {importers} importers, {killed} killed, {duplicates} values printed again")


if __name__ == "__main__":
    run_tests([killed_importers_cause_only_duplicates])
