#!/usr/bin/env python3
"""Throughput of the netchan Python binding against pyzmq PUSH/PULL, measured in the same run.

Two transports, each over TCP loopback (tcp://127.0.0.1, ports picked by the system):

- pyzmq PUSH/PULL: a PUSH socket sends one ZeroMQ message per value to a PULL socket, with
  pyzmq's default options.
- netchan acknowledged: an exporter's bytes channel opened with netchan.SEND and an importer's
  channel opened with netchan.RECV, default options (capacity 1024, acknowledged on receipt),
  through the binding's Channel.send() and Channel.recv().

Two layouts: "threads" runs the sender and the receiver as two threads of this process, which
share the GIL, and "processes" runs the sender in a child process (started with the spawn
method) and the receiver here.

Each run sends warm-up values first (a tenth of the count, at least 1,000) and waits until they
have arrived and, for netchan, been acknowledged. The clock then starts, and it stops once the
receiver has taken the last value and the sender has finished, which for netchan means that
drain() reported every value acknowledged. Every value carries its index in its first 8 bytes,
and the receiver checks each index and size, so a run fails unless each value arrived exactly
once and in order. The transports alternate within each repeat, and which goes first alternates
between repeats.

Usage: NETCHAN_LIBRARY=build/lib/libnetchan.so python bench/python_throughput.py [options]
Needs pyzmq (bindings/python/setup-venv.sh --bench installs it). Exits with status 1 when a run
loses, duplicates or reorders values, or a single step waits more than STEP_TIMEOUT.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import struct
import sys
import threading
import time

import netchan
import zmq

STEP_TIMEOUT = 10.0  # seconds that one send, receive or exchange of a control message may take
INDEX = struct.Struct("<Q")
LABELS = {"pyzmq": "pyzmq PUSH/PULL", "netchan": "netchan acknowledged"}


class RunFailed(Exception):
    pass


def make_values(count: int, size: int, start: int) -> list[bytes]:
    padding = b"\0" * (size - INDEX.size)
    return [INDEX.pack(start + i) + padding for i in range(count)]


def check(value: bytes, expected: int, size: int) -> None:
    if len(value) != size or INDEX.unpack_from(value)[0] != expected:
        got = INDEX.unpack_from(value)[0] if len(value) >= INDEX.size else None
        raise RunFailed(f"value {expected}: got index {got} and size {len(value)}")


# ---- the two transports, as a sending and a receiving side ----------------------------------


class PyzmqSender:
    def __init__(self) -> None:
        self.context = zmq.Context()
        self.push = self.context.socket(zmq.PUSH)
        self.push.setsockopt(zmq.SNDTIMEO, int(STEP_TIMEOUT * 1000))
        self.push.setsockopt(zmq.LINGER, 0)
        self.push.bind("tcp://127.0.0.1:*")
        self.endpoint = self.push.getsockopt_string(zmq.LAST_ENDPOINT)

    def send_all(self, values: list[bytes]) -> None:
        for value in values:
            self.push.send(value)

    def close(self) -> None:
        self.push.close()
        self.context.term()


class PyzmqReceiver:
    def __init__(self, endpoint: str) -> None:
        self.context = zmq.Context()
        self.pull = self.context.socket(zmq.PULL)
        self.pull.setsockopt(zmq.RCVTIMEO, int(STEP_TIMEOUT * 1000))
        self.pull.setsockopt(zmq.LINGER, 0)
        self.pull.connect(endpoint)

    def receive_all(self, count: int, first_index: int, size: int) -> None:
        for i in range(count):
            try:
                value = self.pull.recv()
            except zmq.Again:
                raise RunFailed(f"no value {first_index + i} within {STEP_TIMEOUT} s") from None
            check(value, first_index + i, size)

    def close(self) -> None:
        self.pull.close()
        self.context.term()


class NetchanSender:
    def __init__(self) -> None:
        self.exporter = netchan.Exporter(bind="tcp://127.0.0.1:*")
        self.channel = self.exporter.export("bench", netchan.SEND)
        self.endpoint = self.exporter.endpoint

    def send_all(self, values: list[bytes]) -> None:
        for value in values:
            self.channel.send(value, timeout=STEP_TIMEOUT)
        self.channel.drain(timeout=STEP_TIMEOUT * 3)

    def close(self) -> None:
        self.exporter.close()


class NetchanReceiver:
    def __init__(self, endpoint: str) -> None:
        self.importer = netchan.Importer(connect=endpoint)
        self.channel = self.importer.import_("bench", netchan.RECV, timeout=STEP_TIMEOUT)

    def receive_all(self, count: int, first_index: int, size: int) -> None:
        for i in range(count):
            check(self.channel.recv(timeout=STEP_TIMEOUT), first_index + i, size)

    def close(self) -> None:
        self.importer.close()


SENDERS = {"pyzmq": PyzmqSender, "netchan": NetchanSender}
RECEIVERS = {"pyzmq": PyzmqReceiver, "netchan": NetchanReceiver}


# ---- layouts ----------------------------------------------------------------------------------


def measure_threads(transport: str, count: int, warmup: int, size: int) -> float:
    """Run the sender on a thread and the receiver here; return the timed run's seconds."""
    sender = SENDERS[transport]()
    receiver = RECEIVERS[transport](sender.endpoint)
    try:
        elapsed = 0.0
        for first_index, number in ((0, warmup), (warmup, count)):
            values = make_values(number, size, first_index)
            errors: list[Exception] = []

            def send(values: list[bytes] = values, errors: list[Exception] = errors) -> None:
                try:
                    sender.send_all(values)
                except (netchan.NetchanError, zmq.ZMQError) as error:
                    errors.append(error)

            thread = threading.Thread(target=send)
            started = time.perf_counter()
            thread.start()
            try:
                receiver.receive_all(number, first_index, size)
            finally:
                thread.join(STEP_TIMEOUT * 3)
            elapsed = time.perf_counter() - started
            if errors:
                raise RunFailed(f"sender failed: {errors[0]}")
            if thread.is_alive():
                raise RunFailed("sender did not finish")
        return elapsed
    finally:
        receiver.close()
        sender.close()


def sender_process(transport: str, connection, size: int) -> None:
    """Serve as the sending side in a child process, driven by messages on connection.

    Sends the endpoint, then for each ("send", first_index, count) request sends those values
    and replies "sent" (or "failed: REASON"), until it receives "stop".
    """
    sender = SENDERS[transport]()
    try:
        connection.send(sender.endpoint)
        while True:
            request = connection.recv()
            if request == "stop":
                return
            _, first_index, count = request
            values = make_values(count, size, first_index)
            try:
                sender.send_all(values)
            except (netchan.NetchanError, zmq.ZMQError) as error:
                connection.send(f"failed: {error}")
                continue
            connection.send("sent")
    finally:
        sender.close()


def receive_reply(connection) -> object:
    if not connection.poll(STEP_TIMEOUT * 3):
        raise RunFailed("the sender process did not reply")
    return connection.recv()


def measure_processes(transport: str, count: int, warmup: int, size: int) -> float:
    """Run the sender in a child process and the receiver here; return the timed run's seconds."""
    context = multiprocessing.get_context("spawn")
    connection, child_connection = context.Pipe()
    child = context.Process(target=sender_process, args=(transport, child_connection, size))
    child.start()
    receiver = None
    try:
        endpoint = receive_reply(connection)
        receiver = RECEIVERS[transport](endpoint)
        elapsed = 0.0
        for first_index, number in ((0, warmup), (warmup, count)):
            started = time.perf_counter()
            connection.send(("send", first_index, number))
            receiver.receive_all(number, first_index, size)
            reply = receive_reply(connection)
            elapsed = time.perf_counter() - started
            if reply != "sent":
                raise RunFailed(f"sender process: {reply}")
        connection.send("stop")
        return elapsed
    finally:
        if receiver is not None:
            receiver.close()
        child.join(STEP_TIMEOUT)
        if child.is_alive():
            child.kill()
            child.join()


LAYOUTS = {"threads": measure_threads, "processes": measure_processes}


# ---- report -----------------------------------------------------------------------------------


def machine_summary() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs, {model}, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; pyzmq {zmq.pyzmq_version()} with libzmq "
        f"{zmq.zmq_version()}; libnetchan {netchan.library_version()} at "
        f"{netchan.library_path}; 1-minute load average {os.getloadavg()[0]:.2f} at the start"
    )


def print_table(size: int, count: int, rates: dict[tuple[str, str], list[float]]) -> None:
    print()
    print(
        "| layout | value size | values per run | transport | values/s (median) | MB/s | "
        "values/s min-max | netchan/pyzmq |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    medians = {key: statistics.median(values) for key, values in rates.items()}
    for (layout, transport), median in medians.items():
        ratio = ""
        baseline = medians.get((layout, "pyzmq"))
        if transport == "netchan" and baseline:
            ratio = f"{median / baseline:.2f}"
        low, high = min(rates[layout, transport]), max(rates[layout, transport])
        print(
            f"| {layout} | {size} B | {count:,} | {LABELS[transport]} | {median:,.0f} | "
            f"{median * size / 1e6:.1f} | {low:,.0f}-{high:,.0f} | {ratio} |"
        )
    for layout in sorted({layout for layout, _ in rates}):
        if (layout, "pyzmq") in rates and (layout, "netchan") in rates:
            pairs = zip(rates[layout, "netchan"], rates[layout, "pyzmq"])
            ratios = " ".join(
                f"{netchan_rate / pyzmq_rate:.2f}" for netchan_rate, pyzmq_rate in pairs
            )
            print(f"\n{layout}: netchan/pyzmq per repeat: {ratios}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200_000, help="values per timed run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per transport; the median is reported"
    )
    parser.add_argument("--size", type=int, default=64, help="value size in bytes, at least 8")
    parser.add_argument("--transport", choices=sorted(LABELS), help="measure only one transport")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), help="measure only one layout")
    options = parser.parse_args()
    if options.size < INDEX.size or options.count < 1 or options.repeat < 1:
        parser.error("--size must be at least 8, --count and --repeat at least 1")

    transports = [options.transport] if options.transport else ["pyzmq", "netchan"]
    layouts = [options.layout] if options.layout else ["threads", "processes"]
    warmup = max(1_000, options.count // 10)
    print(f"machine: {machine_summary()}")
    print(f"values per run: {options.count}, size: {options.size} B, repeats: {options.repeat}")

    rates: dict[tuple[str, str], list[float]] = {
        (layout, transport): [] for layout in layouts for transport in transports
    }
    for repeat in range(options.repeat):
        for layout in layouts:
            order = transports if repeat % 2 == 0 else list(reversed(transports))
            for transport in order:
                try:
                    elapsed = LAYOUTS[layout](transport, options.count, warmup, options.size)
                except (RunFailed, netchan.NetchanError, zmq.ZMQError) as error:
                    print(f"FAILED: {layout}, {LABELS[transport]}: {error}", file=sys.stderr)
                    return 1
                rate = options.count / elapsed
                rates[layout, transport].append(rate)
                print(
                    f"repeat {repeat + 1}, {layout}, {LABELS[transport]}: {rate:,.0f} values/s "
                    f"({elapsed:.2f} s)",
                    flush=True,
                )

    print_table(options.size, options.count, rates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
