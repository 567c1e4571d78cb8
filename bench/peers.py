#!/usr/bin/env python3
"""Compare netchan with raw libzmq, NATS JetStream and Redis Streams on this machine.

Starts nats-server (with JetStream) and redis-server on 127.0.0.1 with ports the system picks,
runs netchan-bench-peers once per measurement with the systems interleaved, and writes the
tables (Markdown), the raw results (JSON) and a chart of throughput by value size (PNG).
A system whose server or client library is missing is skipped with a message. bench/run.sh
installs the packages and builds the program first; see docs/benchmarks.md for the setup of
each system and for recorded results.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SYSTEMS = ["zmq", "netchan", "netchan-unacked", "jetstream", "redis"]
LABELS = {
    "zmq": "raw libzmq",
    "netchan": "netchan acknowledged",
    "netchan-unacked": "netchan unacknowledged",
    "jetstream": "NATS JetStream",
    "redis": "Redis Streams",
}
BASELINE_LABELS = {
    "throughput": "raw libzmq PUSH/PULL",
    "latency": "raw libzmq DEALER/ROUTER",
    "memory": "raw libzmq PUSH",
}
THROUGHPUT_SIZES = [64, 1024, 65536]
FANOUT_RECEIVERS = 4
FANOUT_SIZE = 64
LATENCY_SIZE = 64
LATENCY_RATE = 1000
MEMORY_SIZE = 64
MEMORY_CAPACITY = 1048576
MEMORY_INTERVAL_MS = 5
RUN_TIMEOUT_S = 180
SERVER_START_TIMEOUT_S = 10


def log(message):
    print(f"peers: {message}", file=sys.stderr, flush=True)


def free_port():
    """Returns a loopback TCP port that the system reports free at this moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, deadline):
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Server:
    """A broker process on 127.0.0.1, with its log and data in a temporary folder."""

    def __init__(self, name, executable, workdir):
        self.name = name
        self.executable = executable
        self.workdir = workdir
        self.process = None
        self.port = None
        self.log_path = os.path.join(workdir, f"{name}.log")

    def command(self, port):
        if self.name == "nats-server":
            store = os.path.join(self.workdir, "jetstream")
            return [self.executable, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store]
        return [self.executable, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                "--appendonly", "no", "--dir", self.workdir, "--daemonize", "no"]

    def start(self):
        # A port picked free can be taken before the server binds it, so try a few.
        for _ in range(3):
            port = free_port()
            with open(self.log_path, "ab") as log_file:
                self.process = subprocess.Popen(self.command(port), stdout=log_file,
                                                stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL)
            if wait_for_port(port, self.process, time.monotonic() + SERVER_START_TIMEOUT_S):
                self.port = port
                return True
            self.stop()
        log(f"{self.name} did not start; see {self.log_path}")
        return False

    def stop(self):
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def version(self):
        result = subprocess.run([self.executable, "--version"], capture_output=True, text=True,
                                check=False)
        return (result.stdout or result.stderr).strip().splitlines()[0]


class Bench:
    """Runs netchan-bench-peers and collects its JSON lines."""

    def __init__(self, binary, servers):
        self.binary = binary
        self.servers = servers
        self.results = []
        self.failures = []

    def server_args(self):
        args = []
        if "nats-server" in self.servers:
            args += ["--nats", f"nats://127.0.0.1:{self.servers['nats-server'].port}"]
        if "redis-server" in self.servers:
            args += ["--redis", f"127.0.0.1:{self.servers['redis-server'].port}"]
        return args

    def run(self, system, workload, args, extra=None):
        command = [self.binary, "--system", system, "--workload", workload, *args,
                   *self.server_args()]
        try:
            result = subprocess.run(command, capture_output=True, text=True,
                                    timeout=RUN_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            self.fail(system, workload, args, f"timed out after {RUN_TIMEOUT_S} s")
            return None
        if result.returncode != 0:
            self.fail(system, workload, args, result.stderr.strip() or f"exit {result.returncode}")
            return None
        record = json.loads(result.stdout.strip().splitlines()[-1])
        record.update(extra or {})
        self.results.append(record)
        log(f"{workload} {system} {' '.join(args)}: {summary(record)}")
        return record

    def fail(self, system, workload, args, message):
        self.failures.append({"system": system, "workload": workload, "args": args,
                              "error": message})
        log(f"FAILED {workload} {system} {' '.join(args)}: {message}")


def summary(record):
    if record["workload"] == "throughput":
        return f"{record['values_per_second']:,.0f} values/s"
    if record["workload"] == "latency":
        return f"p50 {record['p50_us']:.0f} us, p99 {record['p99_us']:.0f} us"
    return f"peak {record['hwm_kb']:,} kB"


def rotated(systems, shift):
    shift %= len(systems)
    return systems[shift:] + systems[:shift]


def measure(bench, systems, options):
    """Runs every throughput and latency measurement, interleaving the systems."""
    seconds = "0.3" if options.quick else "1.0"
    samples = "1000" if options.quick else "5000"
    for repeat in range(options.repeat):
        log(f"repeat {repeat + 1} of {options.repeat}")
        for size in THROUGHPUT_SIZES:
            for system in rotated(systems, repeat):
                bench.run(system, "throughput", ["--size", str(size), "--seconds", seconds],
                          {"repeat": repeat})
        for system in rotated(systems, repeat + 1):
            bench.run(system, "throughput",
                      ["--size", str(FANOUT_SIZE), "--receivers", str(FANOUT_RECEIVERS),
                       "--seconds", seconds], {"repeat": repeat})
        for system in rotated(systems, repeat + 2):
            bench.run(system, "latency",
                      ["--size", str(LATENCY_SIZE), "--rate", str(LATENCY_RATE),
                       "--samples", samples], {"repeat": repeat})


def measure_memory(bench, systems, options, servers):
    """Runs the memory workload once per system, each broker freshly restarted."""
    values = "200000" if options.quick else "1000000"
    for system in systems:
        args = ["--size", str(MEMORY_SIZE), "--values", values, "--capacity",
                str(MEMORY_CAPACITY), "--interval-ms", str(MEMORY_INTERVAL_MS)]
        server = {"jetstream": "nats-server", "redis": "redis-server"}.get(system)
        if server is not None:
            servers[server].stop()
            if not servers[server].start():
                bench.fail(system, "memory", args, f"{server} did not restart")
                continue
            args += ["--server-pid", str(servers[server].process.pid)]
        bench.run(system, "memory", args, {"repeat": 0})


def matching(results, workload, system, **fields):
    return [r for r in results if r["workload"] == workload and r["system"] == system
            and all(r.get(k) == v for k, v in fields.items())]


def ratio_text(value, baseline):
    return f"{value / baseline:.2f}" if value and baseline else ""


def throughput_table(results, systems, size, receivers):
    baseline = None
    rows = []
    for system in systems:
        runs = matching(results, "throughput", system, size=size, receivers=receivers)
        if not runs:
            rows.append((system, None, None, None))
            continue
        rates = [r["values_per_second"] for r in runs]
        rows.append((system, statistics.median(rates), min(rates), max(rates)))
        if system == "zmq":
            baseline = statistics.median(rates)
    lines = ["| system | values/s | MB/s | values/s min-max | runs | ratio to raw libzmq |",
             "|---|---:|---:|---:|---:|---:|"]
    for system, rate, low, high in rows:
        label = BASELINE_LABELS["throughput"] if system == "zmq" else LABELS[system]
        if rate is None:
            lines.append(f"| {label} | skipped or failed | | | 0 | |")
            continue
        runs = len(matching(results, "throughput", system, size=size, receivers=receivers))
        lines.append(f"| {label} | {rate:,.0f} | {rate * size / 1e6:,.1f} | "
                     f"{low:,.0f}-{high:,.0f} | {runs} | {ratio_text(rate, baseline)} |")
    return lines


def per_repeat_ratios(results, systems, workload, key, **fields):
    """Returns a sentence with each system's ratio to raw libzmq in every repeat."""
    parts = []
    for system in systems:
        if system == "zmq":
            continue
        ratios = []
        for run in matching(results, workload, system, **fields):
            raw = matching(results, workload, "zmq", repeat=run["repeat"], **fields)
            if raw:
                ratios.append(f"{run[key] / raw[0][key]:.2f}")
        if ratios:
            parts.append(f"{LABELS[system]} {' '.join(ratios)}")
    return "; ".join(parts)


def latency_table(results, systems):
    medians = {}
    for system in systems:
        runs = matching(results, "latency", system)
        if runs:
            medians[system] = {key: statistics.median(r[key] for r in runs)
                               for key in ("p50_us", "p99_us", "p999_us")}
            medians[system]["runs"] = len(runs)
    base = medians.get("zmq", {})
    lines = ["| system | p50 µs | p99 µs | p99.9 µs | runs | p50 ratio | p99 ratio | "
             "p99.9 ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for system in systems:
        label = BASELINE_LABELS["latency"] if system == "zmq" else LABELS[system]
        m = medians.get(system)
        if m is None:
            lines.append(f"| {label} | skipped or failed | | | 0 | | | |")
            continue
        lines.append(f"| {label} | {m['p50_us']:.0f} | {m['p99_us']:.0f} | {m['p999_us']:.0f} | "
                     f"{m['runs']} | {ratio_text(m['p50_us'], base.get('p50_us'))} | "
                     f"{ratio_text(m['p99_us'], base.get('p99_us'))} | "
                     f"{ratio_text(m['p999_us'], base.get('p999_us'))} |")
    return lines, medians


def memory_table(results, systems):
    rows = {}
    for system in systems:
        runs = matching(results, "memory", system)
        if runs:
            r = runs[-1]
            sender = (r["hwm_kb"] - r["rss_before_kb"]) * 1024
            broker = ((r["server_hwm_kb"] - r["server_rss_before_kb"]) * 1024
                      if r["server_hwm_kb"] >= 0 else 0)
            rows[system] = (r, sender, broker, sender + broker)
    base = rows.get("zmq", (None, 0, 0, 0))[3]
    lines = ["| system | sender peak MB | sender growth MB | broker growth MB | growth per value "
             "(B) | growth / payload | time to queue (s) | ratio to raw libzmq |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for system in systems:
        label = BASELINE_LABELS["memory"] if system == "zmq" else LABELS[system]
        if system not in rows:
            lines.append(f"| {label} | skipped or failed | | | | | | |")
            continue
        r, sender, broker, total = rows[system]
        broker_text = f"{broker / 1e6:.1f}" if r["server_hwm_kb"] >= 0 else "no broker"
        per_value = total / r["values"]
        lines.append(f"| {label} | {r['hwm_kb'] * 1024 / 1e6:.1f} | {sender / 1e6:.1f} | "
                     f"{broker_text} | {per_value:.0f} | {per_value / r['size']:.2f} | "
                     f"{r['seconds']:.2f} | {ratio_text(total, base)} |")
    return lines


def machine_description():
    model = "unknown CPU"
    mhz = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("cpu MHz") and not mhz:
                    mhz = f" at {float(line.split(':', 1)[1]):.0f} MHz"
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            kb = int(meminfo.readline().split()[1])
            memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    debian = ""
    if os.path.exists("/etc/debian_version"):
        with open("/etc/debian_version", encoding="utf-8") as version:
            debian = f", Debian {version.read().strip()}"
    return (f"`nproc` {os.cpu_count()}, \"{model}\"{mhz}{memory}, "
            f"Linux {platform.release()}{debian}")


def median_throughput(results, system, size):
    """Returns the median MB/s of payload of one sender and one receiver, or None."""
    runs = matching(results, "throughput", system, size=size, receivers=1)
    if not runs:
        return None
    return statistics.median(r["values_per_second"] for r in runs) * size / 1e6


CHART_TITLE = "Throughput by value size, 1 sender and 1 receiver over 127.0.0.1 (median)"
SIZE_LABELS = ["64 B", "1 KiB", "64 KiB"]


def plot_gnuplot(gnuplot, results, systems, path, workdir):
    data_path = os.path.join(workdir, "throughput.dat")
    with open(data_path, "w", encoding="utf-8") as data:
        data.write("size " + " ".join(f'"{LABELS[s]}"' for s in systems) + "\n")
        for size, label in zip(THROUGHPUT_SIZES, SIZE_LABELS):
            cells = []
            for system in systems:
                rate = median_throughput(results, system, size)
                cells.append(f"{rate:.3f}" if rate else "NaN")
            data.write(f'"{label}" ' + " ".join(cells) + "\n")

    script = "\n".join([
        "set terminal pngcairo size 1000,560 font 'sans,11'",
        f"set output '{path}'",
        f"set title '{CHART_TITLE}'",
        "set style data histograms",
        "set style histogram clustered gap 1",
        "set style fill solid 0.85 border -1",
        "set logscale y 10",
        "set yrange [1:*]",
        "set ylabel 'MB/s of payload (log scale)'",
        "set xlabel 'value size'",
        "set key top left",
        "set grid ytics",
        f"plot for [i=2:{len(systems) + 1}] '{data_path}' using i:xtic(1) title columnheader",
    ])
    result = subprocess.run([gnuplot], input=script, text=True, capture_output=True,
                            check=False)
    if result.returncode != 0:
        log(f"gnuplot failed: {result.stderr.strip()}")
    return result.returncode == 0


def plot_matplotlib(results, systems, path):
    try:  # matplotlib is optional: gnuplot draws the chart when it is installed
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no chart: neither gnuplot nor matplotlib is installed")
        return False

    figure, axes = plt.subplots(figsize=(10, 5.6))
    width = 0.8 / max(len(systems), 1)
    for i, system in enumerate(systems):
        heights = [median_throughput(results, system, size) or 0 for size in THROUGHPUT_SIZES]
        axes.bar([x + i * width for x in range(len(THROUGHPUT_SIZES))], heights, width,
                 label=LABELS[system])
    axes.set_yscale("log")
    axes.set_xticks([x + 0.4 - width / 2 for x in range(len(THROUGHPUT_SIZES))], SIZE_LABELS)
    axes.set_ylabel("MB/s of payload (log scale)")
    axes.set_title(CHART_TITLE)
    axes.legend()
    figure.savefig(path, dpi=100)
    return True


def write_chart(results, systems, path, workdir):
    """Draws throughput by value size with gnuplot, or matplotlib when gnuplot is missing."""
    present = [s for s in systems if matching(results, "throughput", s, receivers=1)]
    gnuplot = shutil.which("gnuplot")
    if gnuplot is not None:
        return plot_gnuplot(gnuplot, results, present, path, workdir)
    return plot_matplotlib(results, present, path)


def goals(results, latency_medians):
    """Returns the lines of the goals table."""
    def median_rate(system, size, receivers=1):
        runs = matching(results, "throughput", system, size=size, receivers=receivers)
        return statistics.median(r["values_per_second"] for r in runs) if runs else None

    lines = ["| goal | measured | status |", "|---|---:|---|"]

    def add(goal, value, target, higher_is_better=True):
        if value is None:
            lines.append(f"| {goal} | not measured | |")
            return
        met = value >= target if higher_is_better else value <= target
        if met:
            status = "reached"
        elif higher_is_better:
            status = (f"**missed** by {target - value:.2f}: netchan needs {target / value:.2f} "
                      "times its measured rate")
        else:
            status = (f"**missed** by {value - target:.2f}: netchan's time must shrink by "
                      f"{1 - target / value:.0%}")
        lines.append(f"| {goal} | {value:.2f} | {status} |")

    def ratio(a, b):
        return a / b if a and b else None

    add("64 B acknowledged throughput / raw PUSH/PULL >= 1.0",
        ratio(median_rate("netchan", 64), median_rate("zmq", 64)), 1.0)
    add("1 KiB acknowledged bytes/s / raw PUSH/PULL >= 0.8",
        ratio(median_rate("netchan", 1024), median_rate("zmq", 1024)), 0.8)
    net = latency_medians.get("netchan", {})
    raw = latency_medians.get("zmq", {})
    add("round trip p50 / raw DEALER/ROUTER <= 1.3",
        ratio(net.get("p50_us"), raw.get("p50_us")), 1.3, higher_is_better=False)
    add("round trip p99 / raw DEALER/ROUTER <= 1.3",
        ratio(net.get("p99_us"), raw.get("p99_us")), 1.3, higher_is_better=False)
    for peer in ("jetstream", "redis"):
        theirs = latency_medians.get(peer, {})
        for key, name in (("p50_us", "p50"), ("p99_us", "p99")):
            add(f"round trip {name} / {LABELS[peer]} < 1 (lower latency)",
                ratio(net.get(key), theirs.get(key)), 1.0, higher_is_better=False)
        for size in THROUGHPUT_SIZES:
            add(f"{size} B acknowledged throughput / {LABELS[peer]} (several times: >= 3 "
                "taken here)", ratio(median_rate("netchan", size), median_rate(peer, size)), 3.0)
        add(f"4 receivers, 64 B / {LABELS[peer]} (>= 3)",
            ratio(median_rate("netchan", 64, FANOUT_RECEIVERS),
                  median_rate(peer, 64, FANOUT_RECEIVERS)), 3.0)
    return lines


def report_header(options, context):
    lines = [f"Started {context['started']} UTC, {context['elapsed']:.0f} s, "
             f"{options.repeat} repeat(s) of each throughput and latency measurement"
             f"{' (--quick)' if options.quick else ''}.",
             "",
             f"- Command: `{context['command']}`",
             f"- Machine: {context['machine']}. 1-minute load average "
             f"{context['load_start']:.2f} at the start and {context['load_end']:.2f} at the end.",
             f"- Versions: {'; '.join(context['versions'])}."]
    if context["skipped"]:
        lines.append(f"- Skipped: {'; '.join(context['skipped'])}.")
    return lines + [""]


def report_throughput(results, systems):
    lines = []
    cases = [(size, 1) for size in THROUGHPUT_SIZES] + [(FANOUT_SIZE, FANOUT_RECEIVERS)]
    for size, receivers in cases:
        receiver_text = "1 receiver" if receivers == 1 else f"{receivers} competing receivers"
        lines += [f"Throughput, 1 sender and {receiver_text}, {size}-byte values:", ""]
        lines += throughput_table(results, systems, size, receivers)
        ratios = per_repeat_ratios(results, systems, "throughput", "values_per_second",
                                   size=size, receivers=receivers)
        lines += ["", f"Ratio to raw libzmq in each repeat: {ratios}.", ""]
    return lines


def report_latency(results, systems):
    lines = [f"Round trip of one {LATENCY_SIZE}-byte value and its reply at {LATENCY_RATE} "
             "round trips per second (median of the runs' percentiles):", ""]
    table, latency_medians = latency_table(results, systems)
    lines += table
    p50 = per_repeat_ratios(results, systems, "latency", "p50_us")
    p99 = per_repeat_ratios(results, systems, "latency", "p99_us")
    lines += ["", f"p50 ratio to raw libzmq in each repeat: {p50}.", "",
              f"p99 ratio to raw libzmq in each repeat: {p99}.", ""]
    return lines, latency_medians


def report_memory(results, systems, options):
    values = 200000 if options.quick else 1000000
    lines = [f"Peak resident memory while {values:,} values of {MEMORY_SIZE} B "
             f"({values * MEMORY_SIZE / 1e6:.1f} MB of payload) are queued for a receiver that "
             f"takes one value every {MEMORY_INTERVAL_MS} ms; channel capacity and raw send HWM "
             f"C = {MEMORY_CAPACITY:,}, whose payload alone is "
             f"{MEMORY_CAPACITY * MEMORY_SIZE / 1e6:.1f} MB. Growth is the peak minus the "
             "resident size before the first queued value:", ""]
    return lines + memory_table(results, systems) + [""]


def report(bench, systems, options, context):
    """Returns the results as Markdown: setup, one table per workload, goals, failures."""
    out = report_header(options, context)
    out += report_throughput(bench.results, systems)
    latency_lines, latency_medians = report_latency(bench.results, systems)
    out += latency_lines
    out += report_memory(bench.results, systems, options)
    out += ["Goals:", ""] + goals(bench.results, latency_medians)

    if bench.failures:
        out += ["", "Failed runs:", ""]
        for failure in bench.failures:
            out.append(f"- {failure['workload']} {failure['system']} "
                       f"{' '.join(failure['args'])}: {failure['error'].splitlines()[-1]}")
    return "\n".join(out) + "\n"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True,
                        help="path of the netchan-bench-peers executable")
    parser.add_argument("--quick", action="store_true",
                        help="short runs for a smoke test (under a minute)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="repeats of each throughput and latency measurement "
                             "(default 3, 1 with --quick)")
    parser.add_argument("--out", default="bench-results",
                        help="folder for results.md, results.json and the chart "
                             "(default bench-results)")
    parser.add_argument("--chart", default=None,
                        help="where to write the PNG chart (default OUT/bench-throughput.png)")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated systems to measure (default {','.join(SYSTEMS)})")
    parser.add_argument("--command", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.repeat is None:
        options.repeat = 1 if options.quick else 3
    if options.repeat < 1:
        parser.error("--repeat needs a positive integer")
    return options


def available_systems(binary, requested):
    """Returns the requested systems this build and machine can measure, and why others can't."""
    listing = subprocess.run([binary, "--list"], capture_output=True, text=True, check=True)
    built = {}
    for line in listing.stdout.splitlines():
        name, _label, state, detail = line.split("\t")
        built[name] = (state, detail)
    systems, skipped, versions = [], [], []
    for system in requested:
        if system not in built:
            raise SystemExit(f"peers: unknown system '{system}'; choose from {', '.join(SYSTEMS)}")
        state, detail = built[system]
        server = {"jetstream": "nats-server", "redis": "redis-server"}.get(system)
        if state != "available":
            skipped.append(f"{LABELS[system]}: {detail}")
        elif server is not None and shutil.which(server) is None:
            skipped.append(f"{LABELS[system]}: {server} is not installed (Debian package "
                           f"{server})")
        else:
            systems.append(system)
            if detail not in versions:
                versions.append(detail)
    for message in skipped:
        log(f"skipping {message}")
    return systems, skipped, versions


def main():
    options = parse_args()
    binary = os.path.abspath(options.binary)
    os.makedirs(options.out, exist_ok=True)
    chart = options.chart or os.path.join(options.out, "bench-throughput.png")
    systems, skipped, versions = available_systems(
        binary, [s for s in options.systems.split(",") if s])
    if "zmq" not in systems:
        raise SystemExit("peers: the raw libzmq baseline is needed for the ratios")

    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.monotonic()
    load_start = os.getloadavg()[0]
    workdir = tempfile.mkdtemp(prefix="netchan-bench-peers-")
    servers = {}
    for system, server in (("jetstream", "nats-server"), ("redis", "redis-server")):
        if system in systems:
            servers[server] = Server(server, shutil.which(server), workdir)
            versions.append(servers[server].version())
            if not servers[server].start():
                systems.remove(system)
                skipped.append(f"{LABELS[system]}: {server} did not start")
    bench = Bench(binary, servers)
    try:
        measure(bench, systems, options)
        measure_memory(bench, systems, options, servers)
    finally:
        for server in servers.values():
            server.stop()

    context = {
        "started": started.strftime("%Y-%m-%d %H:%M"),
        "elapsed": time.monotonic() - start,
        "command": options.command or " ".join(sys.argv),
        "machine": machine_description(),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "versions": versions,
        "skipped": skipped,
    }
    text = report(bench, systems, options, context)
    with open(os.path.join(options.out, "results.md"), "w", encoding="utf-8") as out:
        out.write(text)
    with open(os.path.join(options.out, "results.json"), "w", encoding="utf-8") as out:
        json.dump({"context": context, "results": bench.results, "failures": bench.failures},
                  out, indent=1)
    chart_written = write_chart(bench.results, systems, os.path.abspath(chart), workdir)
    if bench.failures:
        log(f"kept the server logs in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(text)
    log(f"wrote {os.path.join(options.out, 'results.md')} and results.json"
        + (f", chart {chart}" if chart_written else ""))
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
