"""Blocks in Channel.recv() without a timeout until SIGINT arrives.

Prints "waiting" before the call and "interrupted" after KeyboardInterrupt ended it.
"""

import sys

import netchan


def main() -> int:
    with netchan.Exporter(bind="tcp://127.0.0.1:*") as exporter:
        exporter.export("empty", netchan.SEND)
        with netchan.Importer(connect=exporter.endpoint) as importer:
            channel = importer.import_("empty", netchan.RECV, timeout=30)
            try:
                print("waiting", flush=True)
                channel.recv()
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
