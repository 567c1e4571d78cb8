#!/usr/bin/env python3
"""Restart demo: importers come and go, some killed, and no value is lost.

One exporter process sends the numbers 1..N on a channel and stays up. Importer processes
connect one after another and print what they receive. Some stop by themselves after a number of
values. Others are killed with SIGKILL in the middle of the stream and get no chance to clean up.
Every value stays pending at the exporter until an importer has printed it and acknowledged it,
so values that a killed importer had received but not printed go to the next importer.

At the end the demo prints a summary:

    sent N, received N, lost 0, duplicated D

where received counts distinct values. A killed importer may have printed its last values
without its acknowledgement reaching the exporter, which then delivers them again: those are
the duplicates. Nothing may be lost, and the demo exits 1 if anything is.

Usage: examples/restart_demo.py [PATH_TO_NETCHAN] [--values N] [--seed S]
PATH_TO_NETCHAN defaults to build/tools/netchan in the repository.
"""

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO_TIMEOUT = 50  # seconds; the demo normally takes a few seconds


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "netchan", nargs="?", default=str(REPO / "build" / "tools" / "netchan"),
        help="path to the netchan CLI (default: build/tools/netchan in the repository)",
    )
    parser.add_argument("--values", type=int, default=10000, help="how many values to send")
    parser.add_argument("--seed", type=int, default=None, help="seed for the random choices")
    return parser.parse_args()


def start_exporter(netchan, count):
    """Starts the exporter on a port the system picks and feeds it 1..count on stdin.

    Returns the process and the endpoint it printed on stderr.
    """
    exporter = subprocess.Popen(
        [netchan, "export", "--bind", "tcp://127.0.0.1:*", "--send", "numbers"],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE,
    )

    def feed():
        try:
            exporter.stdin.write("".join(f"{n}\n" for n in range(1, count + 1)).encode())
            exporter.stdin.close()
        except BrokenPipeError:
            pass  # the exporter failed, and its exit status shows it

    threading.Thread(target=feed, daemon=True).start()

    first_line = exporter.stderr.readline().decode().strip()
    match = re.match(r"netchan: exporting 'numbers' on (\S+)$", first_line)
    if match is None:
        sys.exit(f"the exporter did not start: {first_line!r}")
    print(f"exporter: sending 1..{count} on {match.group(1)}")
    return exporter, match.group(1)


def run_importer(netchan, endpoint, stop_after, kill, exporter):
    """Runs one importer until it has printed stop_after values.

    With kill, the importer is killed with SIGKILL at that moment; otherwise it is started with
    --count and exits by itself. stop_after None lets it run to the end of the stream. Returns
    the values it printed, as ints, and whether it was killed.
    """
    args = [netchan, "import", "--connect", endpoint, "--recv", "numbers"]
    if stop_after is not None and not kill:
        args += ["--count", str(stop_after)]
    importer = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stopper = threading.Thread(target=stop_when_exporter_exits, args=(importer, exporter))
    stopper.daemon = True
    stopper.start()

    values = []
    killed = False
    for line in importer.stdout:
        if not line.endswith(b"\n"):
            break  # half a line written when the importer was killed: not printed
        values.append(int(line))
        if kill and len(values) == stop_after:
            importer.send_signal(signal.SIGKILL)
            killed = True
    importer.wait()
    return values, killed


def stop_when_exporter_exits(importer, exporter):
    """Sends SIGTERM to an importer still running once the exporter has exited.

    An importer that connects just after the exporter finished would otherwise wait for an
    exporter forever. SIGTERM ends it gracefully.
    """
    exporter.wait()
    if importer.poll() is None:
        importer.send_signal(signal.SIGTERM)


def describe(values, stop_after, killed):
    if killed:
        ending = f"killed with SIGKILL once the demo had read {stop_after} of them"
    elif stop_after is None or len(values) < stop_after:
        ending = "ran to the end of the stream"
    else:
        ending = f"stopped by itself after {stop_after} (--count)"
    span = f"{values[0]}..{values[-1]}" if values else "nothing"
    return f"printed {len(values):5d} values ({span}), {ending}"


def give_up():
    print(f"demo still running after {DEMO_TIMEOUT} s; giving up", flush=True)
    os._exit(1)


def main():
    options = parse_arguments()
    if not os.access(options.netchan, os.X_OK):
        sys.exit(f"netchan CLI not found at {options.netchan}; build it with "
                 f"'meson setup build && ninja -C build' or pass its path")
    seed = options.seed if options.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    print(f"random seed {seed} (pass --seed {seed} to repeat this run)")

    exporter, endpoint = start_exporter(options.netchan, options.values)
    watchdog = threading.Timer(DEMO_TIMEOUT, give_up)
    watchdog.daemon = True
    watchdog.start()

    # Each importer takes a random share; every other one is killed. Once every value has been
    # printed, one more importer runs to the end of the stream to take what the last killed
    # importer left unacknowledged, and then the exporter's drain completes.
    seen = {}
    number = 0
    while exporter.poll() is None:
        number += 1
        if len(seen) < options.values:
            stop_after = rng.randint(1, max(1, options.values // 5))
            kill = number % 2 == 0
        else:
            stop_after, kill = None, False
        values, killed = run_importer(options.netchan, endpoint, stop_after, kill, exporter)
        for value in values:
            seen[value] = seen.get(value, 0) + 1
        print(f"importer {number:2d}: {describe(values, stop_after, killed)}")
        if stop_after is None:
            break

    exporter_status = exporter.wait()
    watchdog.cancel()
    print(f"exporter: exited with status {exporter_status} after every value was acknowledged")

    received = sum(1 for value in range(1, options.values + 1) if value in seen)
    lost = options.values - received
    duplicated = sum(count - 1 for count in seen.values())
    print(f"sent {options.values}, received {received}, lost {lost}, duplicated {duplicated}")
    if duplicated:
        print("(duplicates are values a killed importer printed before its acknowledgement "
              "reached the exporter)")
    return 0 if lost == 0 and exporter_status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
