"""What a passive eavesdropper on the loopback interface captures of a CURVE round trip.

Captures the TCP traffic of one exporter port with tcpdump (or tshark) while the netchan CLI
sends values that carry a random marker, once with CURVE and once plain. The CURVE capture must
hold no marker, no secret key and not the importer's public key, while the plain capture must
show the marker, which proves that the capture saw the values at all.

Usage: test_capture.py PATH_TO_NETCHAN_CLI. Exits 0 on success, 1 on failure, and 77 (skipped)
when neither tool is installed or capturing on lo is not permitted. tcpdump is preferred;
NETCHAN_CAPTURE_TOOL=tshark selects tshark.
"""

import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "process"))

from harness import STEP_TIMEOUT, Cli, decode_lines, feed_lines  # noqa: E402

SKIP = 77
BIND = "tcp://127.0.0.1:*"
Z85_ALPHABET = (
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
)


class Skip(Exception):
    pass


def z85_decode(text):
    """Decodes z85 text (ZeroMQ RFC 32) into bytes."""
    out = b""
    for start in range(0, len(text), 5):
        value = 0
        for char in text[start : start + 5]:
            value = value * 85 + Z85_ALPHABET.index(char)
        out += struct.pack(">I", value)
    return out


def read_key(path, field):
    with open(path) as file:
        match = re.search(field + r' = "(.{40})"', file.read())
    if match is None:
        raise AssertionError(f"{path} contains no {field}")
    return z85_decode(match.group(1))


def free_port():
    """Returns a TCP port on 127.0.0.1 that nothing listens on, as the system picked it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pcap_packets(data):
    """Returns the link type and the complete packets of classic pcap bytes."""
    if len(data) < 24:
        return None, []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise AssertionError(f"not a pcap file: magic {magic.hex()}")
    (link_type,) = struct.unpack(endian + "I", data[20:24])
    packets = []
    offset = 24
    while offset + 16 <= len(data):
        (included,) = struct.unpack(endian + "I", data[offset + 8 : offset + 12])
        if offset + 16 + included > len(data):
            break  # the rest of this packet has not been read yet
        packets.append(data[offset + 16 : offset + 16 + included])
        offset += 16 + included
    return link_type, packets


# Bytes before the IP header for the link types that a capture on lo uses: Ethernet, Linux
# cooked capture v1 and v2.
LINK_HEADER_SIZE = {1: 14, 113: 16, 276: 20}


def tcp_source_port(link_type, packet):
    """Returns the TCP source port of an IPv4 packet, or None."""
    offset = LINK_HEADER_SIZE.get(link_type)
    if offset is None or len(packet) < offset + 20 or packet[offset] >> 4 != 4:
        return None
    ip_header_size = (packet[offset] & 0x0F) * 4
    if packet[offset + 9] != socket.IPPROTO_TCP or len(packet) < offset + ip_header_size + 2:
        return None
    (port,) = struct.unpack(">H", packet[offset + ip_header_size : offset + ip_header_size + 2])
    return port


class Capture:
    """A tcpdump or tshark process that writes pcap of one TCP port on lo to its stdout.

    The capture also covers a port that nothing listens on. A connection attempt to that port is a
    marker packet: once it shows up in the output, everything sent before it has too. This
    tells when the capture is live and when it has caught up, because both tools print that
    they started before the kernel delivers packets, and drop packets still buffered when they
    stop.
    """

    def __init__(self, port):
        # NETCHAN_CAPTURE_TOOL=tshark picks tshark when both are installed.
        tcpdump, tshark = shutil.which("tcpdump"), shutil.which("tshark")
        if os.environ.get("NETCHAN_CAPTURE_TOOL") == "tshark":
            tcpdump = None
        self.marker_port = free_port()
        port_filter = f"tcp port {port} or tcp port {self.marker_port}"
        if tcpdump is not None:
            command = [tcpdump, "-i", "lo", "-n", "-U", "--immediate-mode", "-w", "-", port_filter]
        elif tshark is not None:
            command = [tshark, "-i", "lo", "-f", port_filter, "-F", "pcap", "-w", "-"]
        else:
            raise Skip("neither tcpdump nor tshark is installed")
        self.tool = os.path.basename(command[0])
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.data = b""
        self.stderr = b""
        self._condition = threading.Condition()
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self):
        while chunk := self.proc.stdout.read1(65536):
            with self._condition:
                self.data += chunk
                self._condition.notify_all()
        with self._condition:
            self._condition.notify_all()

    def _read_stderr(self):
        while line := self.proc.stderr.readline():
            self.stderr += line

    def _has_packet_from(self, source_port):
        link_type, packets = pcap_packets(self.data)
        return any(tcp_source_port(link_type, packet) == source_port for packet in packets)

    def sync(self):
        """Sends marker packets until one shows up in the output.

        Raises Skip when the tool exits, because it cannot capture on lo, and AssertionError
        when no marker shows up within STEP_TIMEOUT.
        """
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                source_port = probe.getsockname()[1]
                try:
                    probe.connect(("127.0.0.1", self.marker_port))
                except ConnectionRefusedError:
                    pass
            with self._condition:
                # Wait a moment for this marker before sending the next one.
                found = self._condition.wait_for(
                    lambda: self._has_packet_from(source_port) or self.proc.poll() is not None,
                    0.2,
                )
                if self.proc.poll() is not None:
                    break
                if found:
                    return
        exited = self.proc.poll() is not None
        self.stop()
        if exited:
            lines = self.stderr.decode(errors="replace").splitlines()
            reason = next((line for line in lines if "permission" in line), " ".join(lines))
            raise Skip(f"{self.tool} cannot capture on lo: {reason.strip()}")
        raise AssertionError(f"no marker packet showed up in {self.tool}'s output")

    def stop(self):
        """Stops the tool and waits until its output is read."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for thread in self._threads:
            thread.join(STEP_TIMEOUT)


def captured_round_trip(cli_path, values, keys_dir, direction):
    """Runs one round trip and returns the stopped Capture of its exporter's port.

    keys_dir contains the key pairs "server" and "client", or is None for plain connections.
    direction is the exporter's: "--send" or "--recv".
    """
    export_keys, import_keys = [], []
    if keys_dir is not None:
        server, client = os.path.join(keys_dir, "server"), os.path.join(keys_dir, "client")
        export_keys = ["--curve-secret", server + "_secret"]
        import_keys = ["--curve-secret", client + "_secret", "--curve-server-public", server]
    importer_direction = "--recv" if direction == "--send" else "--send"

    exporter = Cli(
        cli_path,
        ["export", "--bind", BIND, direction, "values", *export_keys],
        stdin=subprocess.PIPE,
    )
    importer = None
    endpoint = exporter.wait_exporting()
    capture = Capture(int(endpoint.rsplit(":", 1)[1]))
    try:
        capture.sync()
        # Nothing crosses the port before the importer connects, so the capture gets it all.
        importer = Cli(
            cli_path,
            ["import", "--connect", endpoint, importer_direction, "values", *import_keys],
            stdin=subprocess.PIPE,
        )
        if direction == "--send":
            sender, receiver = exporter, importer
        else:
            sender, receiver = importer, exporter
        receiver.proc.stdin.close()
        feed_lines(sender, values).join(STEP_TIMEOUT)
        sender.expect_exit(0)
        receiver.expect_exit(0)
        received = decode_lines(receiver.stdout.lines)
        if received != values:
            raise AssertionError(f"the round trip printed {len(received)} of {len(values)} values")
        capture.sync()
    finally:
        capture.stop()
        for cli in (exporter, importer):
            if cli is not None:
                cli.kill()
                cli.proc.wait()
    return capture


def check_capture(name, capture, must_show, must_hide):
    data = capture.data
    _, packets = pcap_packets(data)
    print(f"# {name}: {len(packets)} packets, {len(data)} bytes of pcap", flush=True)
    if not packets:
        log = capture.stderr.decode(errors="replace").strip()
        raise AssertionError(f"{name}: the capture contains no packets; {capture.tool} said: {log}")
    for label, needle in must_show:
        if needle not in data:
            raise AssertionError(f"{name}: the capture does not show {label}")
    for label, needle in must_hide:
        if needle in data:
            raise AssertionError(f"{name}: the capture shows {label} in clear text")


def run(cli_path):
    marker = "netchan-clear-text-" + secrets.token_hex(8)
    values = [f"{marker}-{n}" for n in range(1, 51)]
    keys_dir = tempfile.mkdtemp(prefix="netchan-capture-")
    try:
        for name in ("server", "client"):
            result = subprocess.run(
                [cli_path, "keygen", os.path.join(keys_dir, name)],
                capture_output=True,
                timeout=STEP_TIMEOUT,
            )
            if result.returncode != 0:
                raise AssertionError(f"keygen {name} failed: {result.stderr!r}")
        server_secret = read_key(os.path.join(keys_dir, "server_secret"), "secret-key")
        client_secret = read_key(os.path.join(keys_dir, "client_secret"), "secret-key")
        client_public = read_key(os.path.join(keys_dir, "client"), "public-key")
        hidden = [
            ("a value", marker.encode()),
            ("the exporter's secret key", server_secret),
            ("the importer's secret key", client_secret),
            ("the importer's public key", client_public),
        ]
        greeting = [("a CURVE greeting", b"CURVE")]

        for direction in ("--send", "--recv"):
            capture = captured_round_trip(cli_path, values, keys_dir, direction)
            check_capture(f"CURVE, exporter {direction}", capture, greeting, hidden)

        capture = captured_round_trip(cli_path, values, None, "--send")
        check_capture("plain, exporter --send", capture, [("a value", marker.encode())], [])
    finally:
        shutil.rmtree(keys_dir, ignore_errors=True)


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        print(f"usage: {sys.argv[0]} PATH_TO_NETCHAN_CLI", file=sys.stderr)
        return 2
    try:
        run(sys.argv[1])
    except Skip as skip:
        print(f"SKIP: {skip}", flush=True)
        return SKIP
    except AssertionError as failure:
        print(f"FAIL: {failure}", flush=True)
        return 1
    print("ok: CURVE captures show no value or key; the plain capture shows the values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
