"""Security of the netchan CLI: keygen, CURVE round trips and refused importers.

Runs the CLI as real processes over tcp://127.0.0.1 (ports picked by the system), with key pairs
that `netchan keygen` writes into a private temporary directory, and prints TAP. A refused
importer must exit 1 with one stderr line that names the endpoint and reports the failed
authentication, while the exporter keeps serving its legitimate importers. No secret key may
appear in any output.
"""

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "process"))

from harness import (  # noqa: E402
    STEP_TIMEOUT,
    Cli,
    check,
    decode_lines,
    describe_difference,
    feed_lines,
    run_tests,
)

BIND = "tcp://127.0.0.1:*"
Z85_KEY = re.compile(r"^[0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")
SECRET_KEY_LINE = re.compile(r'secret-key = "(.{40})"')
AUTH_FAILED_LINE = re.compile(r"^netchan: authentication failed: ")


class Keys:
    """Key pairs made with `netchan keygen` in a temporary directory that is removed after."""

    def __init__(self, cli_path):
        self.cli_path = cli_path
        self.dir = tempfile.mkdtemp(prefix="netchan-cli-security-")
        self.public = {}
        self.outputs = []

    def make(self, name):
        """Writes the pair NAME and NAME_secret and returns the public key that keygen printed."""
        path = self.path(name)
        result = run_cli(self.cli_path, ["keygen", path])
        check(
            result.returncode == 0,
            f"keygen {path} exited with {result.returncode}: {result.stderr!r}",
        )
        key = result.stdout.decode().strip()
        check(Z85_KEY.match(key) is not None, f"keygen printed {result.stdout!r}, not a z85 key")
        self.public[name] = key
        self.outputs.append(result.stdout + result.stderr)
        return key

    def path(self, name):
        return os.path.join(self.dir, name)

    def secret(self, name):
        return self.path(name) + "_secret"

    def secret_key(self, name):
        with open(self.secret(name)) as file:
            match = SECRET_KEY_LINE.search(file.read())
        check(match is not None, f"{self.secret(name)} contains no secret key")
        return match.group(1)

    def allow_dir(self, *names):
        """Creates a directory with the public certificates of names and returns its path."""
        directory = tempfile.mkdtemp(prefix="allowed-", dir=self.dir)
        for name in names:
            self.allow(directory, name)
        return directory

    def allow(self, directory, name):
        """Copies name's public certificate into directory through a rename, whole at once."""
        partial = os.path.join(directory, "." + name + ".partial")
        shutil.copyfile(self.path(name), partial)
        os.rename(partial, os.path.join(directory, name))

    def check_no_secret(self, processes):
        """Checks that no secret key made here shows in the output of processes or keygen."""
        texts = [output.decode(errors="replace") for output in self.outputs]
        for cli in processes:
            texts.append(cli.stdout.text)
            texts.append(cli.stderr.text)
        for name in self.public:
            secret = self.secret_key(name)
            for text in texts:
                check(secret not in text, f"the secret key of {name} was printed")

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def run_cli(cli_path, args, stdin=b""):
    return subprocess.run([cli_path, *args], input=stdin, capture_output=True, timeout=STEP_TIMEOUT)


def with_keys(test):
    """Runs test(cli_path, keys) with fresh keys for "server", "client" and "other"."""

    def run(cli_path):
        keys = Keys(cli_path)
        try:
            for name in ("server", "client", "other"):
                keys.make(name)
            test(cli_path, keys)
        finally:
            keys.remove()

    run.__name__ = test.__name__
    return run


def curve_export(cli_path, keys, direction, extra=()):
    return Cli(
        cli_path,
        ["export", "--bind", BIND, direction, "numbers", "--curve-secret", keys.secret("server"),
         *extra],
        stdin=subprocess.PIPE,
    )


def curve_import(cli_path, keys, endpoint, direction, name="client", server_public=None, extra=()):
    if server_public is None:
        server_public = keys.public["server"]
    return Cli(
        cli_path,
        ["import", "--connect", endpoint, direction, "numbers", "--curve-secret",
         keys.secret(name), "--curve-server-public", server_public, *extra],
        stdin=subprocess.PIPE,
    )


def expect_refused(importer, endpoint):
    """Checks that a refused importer exited 1 with one error line naming the endpoint.

    A plain importer refused by a CURVE exporter may first print "waiting" notices: when the
    exporter closes the connection before the importer reads its greeting, libzmq reports a
    closed connection rather than a mechanism mismatch, and libzmq retries it."""
    importer.expect_exit(1)
    lines = [
        line
        for line in importer.stderr.text.splitlines()
        if not line.startswith("netchan: waiting for an exporter")
    ]
    check(len(lines) == 1, f"expected one error line from the refused importer, got {lines}")
    check(
        AUTH_FAILED_LINE.match(lines[0]) is not None,
        f"not an authentication error: {lines[0]!r}",
    )
    check(endpoint in lines[0], f"the error does not name the endpoint {endpoint}: {lines[0]!r}")
    check(importer.stdout.lines == [], f"the refused importer printed {importer.stdout.lines[:5]}")


def receive_all(cli_path, keys, endpoint, values, name="client"):
    """Imports the exporter's values with name's keys and checks that all arrive in order."""
    importer = curve_import(cli_path, keys, endpoint, "--recv", name=name)
    importer.proc.stdin.close()
    importer.expect_exit(0)
    printed = decode_lines(importer.stdout.lines)
    check(
        printed == values, "the admitted importer printed " + describe_difference(printed, values)
    )
    return importer


# ------------------------------------------------------------------------------------------------


def keygen_writes_key_pair(cli_path):
    keys = Keys(cli_path)
    try:
        public_key = keys.make("server")
        public_path, secret_path = keys.path("server"), keys.secret("server")
        with open(public_path) as file:
            public_text = file.read()
        with open(secret_path) as file:
            secret_text = file.read()
        check(f'public-key = "{public_key}"' in public_text, "the public file has another key")
        check(f'public-key = "{public_key}"' in secret_text, "the secret file has another key")
        check("secret-key" not in public_text, "the public file contains a secret key")
        check(stat.S_IMODE(os.stat(secret_path).st_mode) == 0o600,
              f"the secret file has mode {oct(os.stat(secret_path).st_mode)}")
        check(stat.S_IMODE(os.stat(public_path).st_mode) & 0o022 == 0,
              "the public file is writable by others")
        keys.check_no_secret([])

        # An existing pair is never replaced.
        again = run_cli(cli_path, ["keygen", public_path])
        check(again.returncode == 1, f"keygen over an existing pair exited with {again.returncode}")
        check(b"already exists" in again.stderr, f"keygen said {again.stderr!r}")
        with open(secret_path) as file:
            check(file.read() == secret_text, "keygen changed an existing secret file")

        missing = run_cli(cli_path, ["keygen", os.path.join(keys.dir, "no", "such", "dir", "k")])
        check(
            missing.returncode == 1,
            f"keygen into a missing directory exited with {missing.returncode}",
        )
        check(b"No such file or directory" in missing.stderr, f"keygen said {missing.stderr!r}")

        for args in (["keygen"], ["keygen", "a", "b"], ["keygen", "--verbose"], ["keygen", ""]):
            result = run_cli(cli_path, args)
            check(
                result.returncode == 2,
                f"netchan {args} exited with {result.returncode}, expected 2",
            )
            check(b"Usage:" in result.stderr, f"netchan {args} printed no usage")
    finally:
        keys.remove()


@with_keys
def curve_round_trip(cli_path, keys):
    values = [f"value-{n}" for n in range(1, 2001)]
    allowed = keys.allow_dir("client")
    exporter = curve_export(
        cli_path, keys, "--send", ["--curve-allow", allowed, "--allow-address", "127.0.0.1"]
    )
    feeder = feed_lines(exporter, values)
    endpoint = exporter.wait_exporting()
    importer = receive_all(cli_path, keys, endpoint, values)
    exporter.expect_exit(0)
    feeder.join(5)

    # The other way round, with the exporter's public certificate file in place of the key.
    up = curve_export(cli_path, keys, "--recv")
    up.proc.stdin.close()
    endpoint = up.wait_exporting()
    sender = curve_import(cli_path, keys, endpoint, "--send", server_public=keys.path("server"))
    feed_lines(sender, values).join(STEP_TIMEOUT)
    sender.expect_exit(0)
    up.expect_exit(0)
    received = decode_lines(up.stdout.lines)
    check(
        received == values,
        "the receiving exporter printed " + describe_difference(received, values),
    )
    keys.check_no_secret([exporter, importer, up, sender])


@with_keys
def wrong_server_key_exits_1(cli_path, keys):
    values = [str(n) for n in range(1, 101)]
    exporter = curve_export(cli_path, keys, "--send")
    feeder = feed_lines(exporter, values)
    endpoint = exporter.wait_exporting()

    refused = curve_import(cli_path, keys, endpoint, "--recv", server_public=keys.public["other"])
    expect_refused(refused, endpoint)

    # The exporter still serves an importer with the right key, and loses nothing.
    importer = receive_all(cli_path, keys, endpoint, values)
    exporter.expect_exit(0)
    feeder.join(5)
    keys.check_no_secret([exporter, refused, importer])


@with_keys
def unknown_client_exits_1(cli_path, keys):
    values = [str(n) for n in range(1, 101)]
    allowed = keys.allow_dir("client")
    exporter = curve_export(cli_path, keys, "--send", ["--curve-allow", allowed])
    exporter.proc.stdin.write("".join(v + "\n" for v in values).encode())
    exporter.proc.stdin.flush()
    endpoint = exporter.wait_exporting()

    refused = curve_import(cli_path, keys, endpoint, "--recv", name="other")
    expect_refused(refused, endpoint)
    check("key or address" in refused.stderr.text, f"no reason given: {refused.stderr.text!r}")

    # The exporter reports the refusal with the importer's address.
    notice = re.compile(rb"^netchan: refused 1 connection to 'numbers' on \S+; the last from "
                        rb"127\.0\.0\.1: its key or address is not allowed$", re.MULTILINE)
    check(exporter.stderr.wait_match(notice, STEP_TIMEOUT) is not None,
          f"the exporter did not report the refusal: {exporter.stderr.text!r}")

    # Once its certificate is in the directory, the same key is admitted.
    keys.allow(allowed, "other")
    importer = curve_import(
        cli_path, keys, endpoint, "--recv", name="other", extra=["--count", "100"]
    )
    importer.expect_exit(0)
    printed = decode_lines(importer.stdout.lines)
    check(
        printed == values, "the admitted importer printed " + describe_difference(printed, values)
    )
    exporter.proc.stdin.close()
    exporter.expect_exit(0)
    keys.check_no_secret([exporter, refused, importer])


@with_keys
def plain_importer_exits_1(cli_path, keys):
    exporter = curve_export(cli_path, keys, "--send")
    endpoint = exporter.wait_exporting()
    refused = Cli(cli_path, ["import", "--connect", endpoint, "--recv", "numbers"])
    expect_refused(refused, endpoint)

    # And a CURVE importer does not fall back to a plain exporter.
    plain = Cli(cli_path, ["export", "--bind", BIND, "--send", "numbers"], stdin=subprocess.PIPE)
    plain_endpoint = plain.wait_exporting()
    curve = curve_import(cli_path, keys, plain_endpoint, "--recv")
    expect_refused(curve, plain_endpoint)
    exporter.proc.stdin.close()
    exporter.expect_exit(0)
    plain.proc.stdin.close()
    plain.expect_exit(0)


@with_keys
def allow_address_admits_only_listed(cli_path, keys):
    values = [str(n) for n in range(1, 51)]
    exporter = Cli(
        cli_path,
        ["export", "--bind", BIND, "--send", "numbers", "--allow-address", "127.0.0.2"],
        stdin=subprocess.PIPE,
    )
    feeder = feed_lines(exporter, values)
    endpoint = exporter.wait_exporting()

    refused = Cli(cli_path, ["import", "--connect", endpoint, "--recv", "numbers"])
    expect_refused(refused, endpoint)

    # libzmq connects from a given source address with "tcp://SOURCE:0;HOST:PORT", and Linux
    # accepts any 127.x.y.z address on the loopback interface.
    from_allowed = "tcp://127.0.0.2:0;" + endpoint[len("tcp://"):]
    importer = Cli(cli_path, ["import", "--connect", from_allowed, "--recv", "numbers"])
    importer.expect_exit(0)
    printed = decode_lines(importer.stdout.lines)
    check(printed == values, "the allowed address printed " + describe_difference(printed, values))
    exporter.expect_exit(0)
    feeder.join(5)


@with_keys
def refused_reconnect_exits_1(cli_path, keys):
    # The importer is admitted and receives, then its exporter is replaced by one on the same
    # port that does not admit its key. The importer must not wait forever.
    first = curve_export(cli_path, keys, "--send")
    first.proc.stdin.write(b"1\n2\n3\n")
    first.proc.stdin.flush()
    endpoint = first.wait_exporting()
    importer = curve_import(cli_path, keys, endpoint, "--recv")
    importer.stdout.wait_lines(3, STEP_TIMEOUT)
    check(decode_lines(importer.stdout.lines) == ["1", "2", "3"],
          f"the importer printed {importer.stdout.lines}")

    first.kill()
    first.finish()
    second = Cli(
        cli_path,
        ["export", "--bind", endpoint, "--send", "numbers", "--curve-secret",
         keys.secret("server"), "--curve-allow", keys.allow_dir("other")],
        stdin=subprocess.PIPE,
    )
    check(second.wait_exporting() == endpoint, "the second exporter did not get the same port")

    status = importer.finish()
    check(
        status == 1,
        f"the refused importer exited with {status}; stderr {importer.stderr.text!r}",
    )
    lines = importer.stderr.text.splitlines()
    check(any(AUTH_FAILED_LINE.match(line) and endpoint in line for line in lines),
          f"the importer did not say that authentication failed: {lines}")
    second.proc.stdin.close()
    second.expect_exit(0)


class Relay:
    """Forwards TCP connections made to it to target_port and records what the first client
    sent. Both run on 127.0.0.1, the relay on a port the system picks.

    tamper(chunk, offset) may return a changed chunk of the first connection's client-to-server
    bytes, offset being the chunk's position in that stream.
    """

    def __init__(self, target_port, tamper=None):
        self.target_port = target_port
        self.tamper = tamper
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.recorded = bytearray()
        self.connections = 0
        self.first_done = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def close(self):
        self.listener.close()

    def _pump(self, source, destination, first_upstream):
        try:
            while data := source.recv(65536):
                if first_upstream:
                    if self.tamper is not None:
                        data = self.tamper(data, len(self.recorded))
                    self.recorded += data
                destination.sendall(data)
        except OSError:
            pass  # either side closed; the other pump ends too
        for sock in (source, destination):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _serve(self, client, first):
        with client:
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                server = None  # the target is gone: closing the client tells it so
            if server is not None:
                with server:
                    upstream = threading.Thread(
                        target=self._pump, args=(client, server, first), daemon=True
                    )
                    upstream.start()
                    self._pump(server, client, False)
                    upstream.join(STEP_TIMEOUT)
        if first:
            self.first_done.set()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            first = self.connections == 0
            self.connections += 1
            threading.Thread(target=self._serve, args=(client, first), daemon=True).start()


@with_keys
def replayed_connection_refused(cli_path, keys):
    # Record everything an importer sent on its CURVE connection, then replay it byte for
    # byte to a new exporter with the same keys.
    values = [f"replayed-{n}" for n in range(1, 21)]
    first = curve_export(cli_path, keys, "--recv")
    first.proc.stdin.close()
    endpoint = first.wait_exporting()
    relay = Relay(int(endpoint.rsplit(":", 1)[1]))
    sender = curve_import(cli_path, keys, f"tcp://127.0.0.1:{relay.port}", "--send")
    feed_lines(sender, values).join(STEP_TIMEOUT)
    sender.expect_exit(0)
    first.expect_exit(0)
    check(decode_lines(first.stdout.lines) == values, "the recorded round trip lost values")
    relay.first_done.wait(STEP_TIMEOUT)
    relay.close()
    recorded = bytes(relay.recorded)
    check(len(recorded) > 0, "the relay recorded nothing")
    check(values[0].encode() not in recorded, "the recorded connection shows a value in clear")

    second = curve_export(cli_path, keys, "--recv")
    second.proc.stdin.close()
    second_endpoint = second.wait_exporting()
    with socket.create_connection(("127.0.0.1", int(second_endpoint.rsplit(":", 1)[1]))) as sock:
        try:
            sock.sendall(recorded)
        except OSError:
            pass  # the exporter may close the connection before the replay ends
        sock.settimeout(STEP_TIMEOUT)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass  # a reset closes the connection as well as an end of stream
    notice = re.compile(rb"^netchan: refused 1 connection to 'numbers' on \S+; the last from "
                        rb".*: its handshake failed", re.MULTILINE)
    check(second.stderr.wait_match(notice, STEP_TIMEOUT) is not None,
          f"the exporter did not report the replay as refused: {second.stderr.text!r}")
    check(second.stdout.lines == [], f"the replay delivered {second.stdout.lines[:5]}")
    second.kill()
    second.finish()


def tampered_round_trip(cli_path, keys, values, tamper):
    """Sends values from an importer to an exporter through a Relay that applies tamper, and
    returns what the exporter printed. keys is None for plain connections."""
    export_keys, import_keys = [], []
    if keys is not None:
        export_keys = ["--curve-secret", keys.secret("server")]
        import_keys = ["--curve-secret", keys.secret("client"), "--curve-server-public",
                       keys.public["server"]]
    exporter = Cli(cli_path, ["export", "--bind", BIND, "--recv", "numbers", *export_keys],
                   stdin=subprocess.PIPE)
    exporter.proc.stdin.close()
    endpoint = exporter.wait_exporting()
    relay = Relay(int(endpoint.rsplit(":", 1)[1]), tamper)
    try:
        sender = Cli(cli_path, ["import", "--connect", f"tcp://127.0.0.1:{relay.port}", "--send",
                                "numbers", *import_keys], stdin=subprocess.PIPE)
        feed_lines(sender, values).join(STEP_TIMEOUT)
        sender.expect_exit(0)
        exporter.expect_exit(0)
    finally:
        relay.close()
    return decode_lines(exporter.stdout.lines), relay


@with_keys
def tampered_connection_changes_nothing(cli_path, keys):
    values = [f"tampered-{n:04}" for n in range(1, 401)]

    # Plain: the relay changes one value on its way, and the change goes through unnoticed.
    def change_value(chunk, offset):
        return chunk.replace(b"tampered-0077", b"TAMPERED-0077")

    printed, _ = tampered_round_trip(cli_path, None, values, change_value)
    check("TAMPERED-0077" in printed, "the plain round trip did not show the changed value")

    # CURVE: the relay flips one bit of a message after the handshake. The exporter drops the
    # connection, the importer reconnects, and every value arrives once and unchanged.
    def flip_bit(chunk, offset):
        position = 3000 - offset
        if 0 <= position < len(chunk):
            chunk = chunk[:position] + bytes([chunk[position] ^ 0x01]) + chunk[position + 1 :]
        return chunk

    printed, relay = tampered_round_trip(cli_path, keys, values, flip_bit)
    check(len(relay.recorded) > 3000, f"the first connection carried only {len(relay.recorded)} "
          "bytes, so nothing was flipped")
    check(relay.connections >= 2, "the importer did not reconnect after the flipped bit")
    check(printed == values, "the CURVE round trip printed " + describe_difference(printed, values))


USAGE_ERRORS = [
    ["import", "--connect", "tcp://127.0.0.1:1", "--recv", "x", "--curve-secret", "k_secret"],
    ["import", "--connect", "tcp://127.0.0.1:1", "--recv", "x", "--curve-server-public", "k"],
    ["import", "--connect", "tcp://127.0.0.1:1", "--recv", "x", "--curve-allow", "/tmp"],
    ["import", "--connect", "tcp://127.0.0.1:1", "--recv", "x", "--allow-address", "127.0.0.1"],
    ["export", "--bind", BIND, "--send", "x", "--curve-server-public", "k"],
    ["export", "--bind", BIND, "--send", "x", "--curve-allow", "/tmp"],
    ["export", "--bind", BIND, "--send", "x", "--allow-address", "localhost"],
    ["export", "--bind", BIND, "--send", "x", "--allow-address", "127.0.0.256"],
    ["export", "--bind", BIND, "--send", "x", "--curve-secret"],
]


def security_usage_errors_exit_2(cli_path):
    for args in USAGE_ERRORS:
        result = run_cli(cli_path, args)
        check(result.returncode == 2, f"netchan {args} exited with {result.returncode}, expected 2")
        check(b"Usage:" in result.stderr, f"netchan {args} printed no usage: {result.stderr!r}")
        check(result.stdout == b"", f"netchan {args} printed to stdout: {result.stdout!r}")

    result = run_cli(cli_path, ["--help"])
    for option in (b"keygen PATH", b"--curve-secret FILE", b"--curve-server-public KEY|FILE",
                   b"--curve-allow DIR", b"--allow-address IP"):
        check(option in result.stdout, f"the help omits {option!r}")


@with_keys
def bad_key_files_exit_1(cli_path, keys):
    missing = os.path.join(keys.dir, "missing_secret")
    cases = [
        (["export", "--bind", BIND, "--send", "x", "--curve-secret", missing], missing),
        # A public certificate whose secret file is gone contains no secret key.
        (["export", "--bind", BIND, "--send", "x", "--curve-secret", keys.path("lonely")],
         keys.path("lonely")),
        (["export", "--bind", BIND, "--send", "x", "--curve-secret", keys.secret("server"),
          "--curve-allow", os.path.join(keys.dir, "no-such-dir")], "no-such-dir"),
        (["import", "--connect", "tcp://127.0.0.1:1", "--recv", "x", "--curve-secret",
          keys.secret("client"), "--curve-server-public", "not-a-key"], "not-a-key"),
        (["import", "--connect", "tcp://127.0.0.1:1", "--recv", "x", "--curve-secret", missing,
          "--curve-server-public", keys.public["server"]], missing),
    ]
    shutil.copyfile(keys.path("other"), keys.path("lonely"))
    for args, named in cases:
        result = run_cli(cli_path, args)
        check(result.returncode == 1, f"netchan {args} exited with {result.returncode}, expected 1")
        lines = result.stderr.decode().splitlines()
        check(len(lines) == 1, f"netchan {args}: expected one stderr line, got {lines}")
        check(named in lines[0], f"the error does not name {named}: {lines[0]!r}")


if __name__ == "__main__":
    run_tests(
        [
            keygen_writes_key_pair,
            curve_round_trip,
            wrong_server_key_exits_1,
            unknown_client_exits_1,
            plain_importer_exits_1,
            allow_address_admits_only_listed,
            refused_reconnect_exits_1,
            replayed_connection_refused,
            tampered_connection_changes_nothing,
            security_usage_errors_exit_2,
            bad_key_files_exit_1,
        ]
    )
