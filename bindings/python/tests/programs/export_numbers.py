"""Exports channel 'numbers' and sends 1..COUNT on it, then closes it and drains it.

Usage: export_numbers.py ENDPOINT COUNT [--typed]

Prints "endpoint RESOLVED_ENDPOINT" first and "drained" when every value is acknowledged. With
--typed the values are netchan.pytest.Point messages with x set to the number, else the
number's decimal digits as bytes.
"""

import sys

import helpers
import netchan


def main() -> int:
    endpoint, count = sys.argv[1], int(sys.argv[2])
    typed = "--typed" in sys.argv[3:]
    point = helpers.load_test_types().Point if typed else None
    with netchan.Exporter(bind=endpoint) as exporter:
        channel = exporter.export("numbers", netchan.SEND, point)
        print("endpoint", exporter.endpoint, flush=True)
        for number in range(1, count + 1):
            value = point(x=number) if typed else str(number).encode()
            channel.send(value, timeout=60)
        channel.close()
        channel.drain(timeout=60)
        print("drained", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
