"""Imports channel 'numbers', prints the values it takes, one a line, and exits.

Usage: import_some.py ENDPOINT TAKE [--typed] [--no-close]

TAKE is how many values to take, or "all" to take values until the sender closes the channel.
With --no-close the program leaves the importer open and returns, so the binding's exit
handler closes it.
"""

import sys

import helpers
import netchan


def main() -> int:
    endpoint, take = sys.argv[1], sys.argv[2]
    typed = "--typed" in sys.argv[3:]
    point = helpers.load_test_types().Point if typed else None
    importer = netchan.Importer(connect=endpoint)
    channel = importer.import_("numbers", netchan.RECV, point, timeout=30)
    count_taken = 0
    while take == "all" or count_taken < int(take):
        try:
            value = channel.recv(timeout=30)
        except netchan.Closed:
            break
        print(value.x if typed else value.decode(), flush=True)
        count_taken += 1
    if "--no-close" not in sys.argv[3:]:
        importer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
