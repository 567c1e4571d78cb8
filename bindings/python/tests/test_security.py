"""CURVE encryption and authentication, address filters and per-channel keys."""

import os
import stat

import pytest

import netchan
from helpers import wait_for


@pytest.fixture
def keys(tmp_path):
    """Key pairs of one exporter ("server") and two importers ("alice" and "mallory").

    Only alice's public certificate is in the folder "allowed".
    """
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    pairs = {}
    for name in ("server", "alice", "mallory"):
        public = tmp_path / f"{name}.cert"
        pairs[name] = (public, tmp_path / f"{name}.cert_secret", netchan.keygen(public))
    (allowed / "alice.cert").write_bytes(pairs["alice"][0].read_bytes())
    pairs["allowed"] = allowed
    return pairs


def curve_importer(keys, name, endpoint, server_key=None):
    _, secret, _ = keys[name]
    return netchan.Importer(
        connect=endpoint, curve=secret, server_key=server_key or keys["server"][2]
    )


def next_of_type(owner, event_type, timeout=10):
    while True:
        event = owner.next_event(timeout=timeout)
        assert event is not None, f"no {event_type.name} event within {timeout} s"
        if event.type == event_type:
            return event


def test_keygen_writes_key_pair(keys):
    public, secret, key = keys["server"]
    assert len(key) == 40
    assert netchan.cert_public_key(public) == key
    assert netchan.cert_public_key(secret) == key
    assert stat.S_IMODE(os.stat(secret).st_mode) & 0o077 == 0


def test_cert_public_key_rejects_other_file(tmp_path):
    path = tmp_path / "not-a-cert"
    path.write_text("hello\n")
    with pytest.raises(netchan.InvalidArgument, match="not-a-cert"):
        netchan.cert_public_key(path)


def test_curve_roundtrip(keys, types):
    with netchan.Exporter(bind="tcp://127.0.0.1:*", curve=keys["server"][1]) as exporter:
        sender = exporter.export("secret", netchan.SEND, types.Point)
        # The server key may be given as the public certificate's path, too.
        with curve_importer(keys, "alice", exporter.endpoint, keys["server"][0]) as importer:
            receiver = importer.import_("secret", netchan.RECV, types.Point, timeout=10)
            sender.send(types.Point(x=42, label="encrypted"), timeout=10)

            assert receiver.recv(timeout=10) == types.Point(x=42, label="encrypted")
        assert exporter.stats["refused"] == 0


def test_wrong_server_key_refused(keys):
    with netchan.Exporter(bind="tcp://127.0.0.1:*", curve=keys["server"][1]) as exporter:
        exporter.export("secret", netchan.SEND)
        wrong = keys["mallory"][2]
        with curve_importer(keys, "alice", exporter.endpoint, wrong) as importer:
            with pytest.raises(netchan.AuthError) as caught:
                importer.import_("secret", netchan.RECV, timeout=10)

            assert caught.value.code == 18
            assert importer.stats["refused"] >= 1
            event = next_of_type(importer, netchan.EventType.REFUSED)
            assert event.type is netchan.EventType.REFUSED
        assert next_of_type(exporter, netchan.EventType.REFUSED) is not None


def test_curve_allow_admits_listed_keys(keys):
    with netchan.Exporter(
        bind="tcp://127.0.0.1:*", curve=keys["server"][1], curve_allow=keys["allowed"]
    ) as exporter:
        exporter.export("members", netchan.SEND)
        with curve_importer(keys, "alice", exporter.endpoint) as alice:
            alice.import_("members", netchan.RECV, timeout=10)
        with curve_importer(keys, "mallory", exporter.endpoint) as mallory:
            with pytest.raises(netchan.AuthError):
                mallory.import_("members", netchan.RECV, timeout=10)

        event = next_of_type(exporter, netchan.EventType.REFUSED)
        assert event.reason is netchan.EventReason.AUTH


def test_plain_importer_refused_by_curve_exporter(keys):
    with netchan.Exporter(bind="tcp://127.0.0.1:*", curve=keys["server"][1]) as exporter:
        exporter.export("secret", netchan.SEND)
        with netchan.Importer(connect=exporter.endpoint) as importer:
            with pytest.raises(netchan.AuthError):
                importer.import_("secret", netchan.RECV, timeout=10)


def test_channel_allow_key(keys):
    with netchan.Exporter(bind="tcp://127.0.0.1:*", curve=keys["server"][1]) as exporter:
        channel = exporter.export("private", netchan.SEND)
        channel.allow_key(keys["alice"][2])

        with curve_importer(keys, "mallory", exporter.endpoint) as mallory:
            with pytest.raises(netchan.AuthError, match="private"):
                mallory.import_("private", netchan.RECV, timeout=10)
        with curve_importer(keys, "alice", exporter.endpoint) as alice:
            receiver = alice.import_("private", netchan.RECV, timeout=10)
            channel.send(b"for alice", timeout=10)
            assert receiver.recv(timeout=10) == b"for alice"


def test_allow_address(tmp_path):
    with netchan.Exporter(bind="tcp://127.0.0.1:*", allow_addresses=["127.0.0.1"]) as exporter:
        exporter.export("local", netchan.SEND)
        with netchan.Importer(connect=exporter.endpoint) as importer:
            importer.import_("local", netchan.RECV, timeout=10)
        assert exporter.stats["refused"] == 0

    # Only another loopback address is admitted, so this machine's 127.0.0.1 is refused.
    with netchan.Exporter(bind="tcp://127.0.0.1:*", allow_addresses=["127.0.0.2"]) as exporter:
        exporter.export("local", netchan.SEND)
        with netchan.Importer(connect=exporter.endpoint) as importer:
            with pytest.raises((netchan.AuthError, netchan.Timeout)):
                importer.import_("local", netchan.RECV, timeout=3)
        assert exporter.stats["refused"] >= 1


def test_curve_needs_server_key(keys):
    with pytest.raises(ValueError, match="server_key"):
        netchan.Importer(curve=keys["alice"][1])


def test_endpoint_stats_count_sessions(exporter, importer):
    exporter.export("counted", netchan.SEND)
    importer.import_("counted", netchan.RECV, timeout=10)

    # The exporter updates the count of sessions on its periodic tick.
    wait_for(lambda: exporter.stats["sessions"] == 1, description="one session counted")
    stats = exporter.stats
    assert stats["refused"] == 0
    assert stats["protocol_errors"] == 0
    assert set(importer.stats) == {"sessions", "refused", "protocol_errors"}
