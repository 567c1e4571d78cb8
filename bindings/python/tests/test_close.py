"""Closing channels, exporters and importers."""

import threading

import pytest

import netchan
from helpers import wait_for


def test_iteration_ends_when_sender_closes(exporter, importer):
    sender = exporter.export("finite", netchan.SEND)
    receiver = importer.import_("finite", netchan.RECV, timeout=10)
    for i in range(10):
        sender.send(b"%d" % i, timeout=10)
    sender.close()

    assert list(receiver) == [b"%d" % i for i in range(10)]
    with pytest.raises(netchan.Closed):
        receiver.recv(timeout=10)


def test_send_after_close_raises(exporter):
    channel = exporter.export("shut", netchan.SEND)
    channel.close()
    channel.close()

    with pytest.raises(netchan.Closed) as caught:
        channel.send(b"late", timeout=1)
    assert caught.value.code == 5


def test_receiver_close_returns_values(exporter):
    sender = exporter.export("handed-back", netchan.SEND)
    for i in range(20):
        sender.send(b"%d" % i, timeout=10)

    with netchan.Importer(connect=exporter.endpoint) as first:
        channel = first.import_("handed-back", netchan.RECV, timeout=10)
        assert channel.recv(timeout=10) == b"0"
        channel.close()
        with pytest.raises(netchan.Closed):
            channel.recv(timeout=1)

    with netchan.Importer(connect=exporter.endpoint) as second:
        channel = second.import_("handed-back", netchan.RECV, timeout=10)
        assert [channel.recv(timeout=10) for _ in range(19)] == [b"%d" % i for i in range(1, 20)]


def test_importer_close_wakes_blocked_recv(exporter):
    exporter.export("quiet", netchan.SEND)
    importer = netchan.Importer(connect=exporter.endpoint)
    channel = importer.import_("quiet", netchan.RECV, timeout=10)
    outcome = []

    def receive():
        try:
            channel.recv()
        except netchan.Closed as error:
            outcome.append(error)

    thread = threading.Thread(target=receive)
    thread.start()
    wait_for(lambda: len(importer._calls) == 1, description="the recv to start waiting")
    importer.close()
    thread.join(10)

    assert not thread.is_alive()
    assert len(outcome) == 1
    assert "importer was closed" in str(outcome[0])


def test_exporter_close_wakes_blocked_send(exporter):
    channel = exporter.export("blocked", netchan.SEND, capacity=1)
    channel.send(b"fills the channel", timeout=1)
    outcome = []

    def send():
        try:
            channel.send(b"waits")
        except netchan.Closed as error:
            outcome.append(error)

    thread = threading.Thread(target=send)
    thread.start()
    # The exporter counts calls under way; wait until the send is one of them.
    wait_for(lambda: len(exporter._calls) == 1, description="the send to start waiting")
    exporter.close()
    thread.join(10)

    assert not thread.is_alive()
    assert len(outcome) == 1


def test_calls_after_owner_close_raise_closed(exporter):
    channel = exporter.export("gone", netchan.SEND)
    exporter.close()
    exporter.close()

    assert exporter.closed
    for call in (
        lambda: channel.send(b"x"),
        lambda: channel.pending,
        lambda: channel.stats,
        lambda: channel.fileno(),
        lambda: channel.drain(1),
        lambda: exporter.endpoint,
        lambda: exporter.export("new", netchan.SEND),
        lambda: exporter.next_event(0),
    ):
        with pytest.raises(netchan.Closed):
            call()
    channel.close()  # a no-op once the exporter is closed


def test_drain_after_close_delivers_everything(exporter, importer):
    sender = exporter.export("drained", netchan.SEND)
    receiver = importer.import_("drained", netchan.RECV, timeout=10)
    for i in range(100):
        sender.send(b"%d" % i, timeout=10)
    sender.close()
    received = list(receiver)

    sender.drain(timeout=10)

    assert len(received) == 100
    assert sender.stats["acknowledged"] == 100
