"""Exports 'numbers', a channel of google.protobuf.Int64Value, with the Python binding.

Prints "endpoint ENDPOINT" once bound, sends 0 .. COUNT-1, closes the channel and waits up to
30 s until every value is acknowledged. Exit status 0 on success, 1 when values stay
unacknowledged. Usage: python_exporter.py COUNT
"""
import sys

import netchan
from google.protobuf import wrappers_pb2


def main() -> int:
    count = int(sys.argv[1])
    with netchan.Exporter(bind="tcp://127.0.0.1:*") as exporter:
        numbers = exporter.export("numbers", netchan.SEND, wrappers_pb2.Int64Value)
        print("endpoint", exporter.endpoint, flush=True)
        for i in range(count):
            numbers.send(wrappers_pb2.Int64Value(value=i))
        numbers.close()
        try:
            numbers.drain(timeout=30)
        except netchan.Timeout as error:
            print(f"python exporter: {error.pending} values not acknowledged", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
