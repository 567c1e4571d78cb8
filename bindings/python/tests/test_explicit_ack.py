"""Explicit acknowledgement: recv_message, ack, release and attempts."""

import pytest

import netchan


@pytest.fixture
def jobs(exporter, importer):
    sender = exporter.export("jobs", netchan.SEND)
    receiver = importer.import_("jobs", netchan.RECV, timeout=10, explicit_ack=True)
    return sender, receiver


def test_value_pending_until_ack(jobs):
    sender, receiver = jobs
    sender.send(b"job", timeout=10)

    message = receiver.recv_message(timeout=10)
    assert message.value == b"job"
    assert message.data == b"job"
    assert message.attempts == 1
    with pytest.raises(netchan.Timeout):
        sender.drain(timeout=0.3)
    assert sender.pending == 1

    message.ack()
    message.ack()  # idempotent
    sender.drain(timeout=10)
    assert sender.pending == 0
    message.close()


def test_release_redelivers_with_next_attempt(jobs):
    sender, receiver = jobs
    sender.send(b"retry me", timeout=10)

    with receiver.recv_message(timeout=10) as first:
        first.release()
    second = receiver.recv_message(timeout=10)

    assert second.value == b"retry me"
    assert second.attempts == 2
    second.ack()
    sender.drain(timeout=10)


def test_recv_rejected_on_explicit_channel(jobs):
    _, receiver = jobs
    with pytest.raises(netchan.StateError, match="recv_message"):
        receiver.recv(timeout=0)


def test_iteration_yields_messages(jobs):
    sender, receiver = jobs
    for i in range(3):
        sender.send(b"%d" % i, timeout=10)
    sender.close()

    values = []
    for message in receiver:
        values.append(message.value)
        message.ack()

    assert values == [b"0", b"1", b"2"]


def test_ack_on_auto_ack_channel_rejected(exporter, importer):
    sender = exporter.export("auto", netchan.SEND)
    receiver = importer.import_("auto", netchan.RECV, timeout=10)
    sender.send(b"v", timeout=10)

    message = receiver.recv_message(timeout=10)

    assert message.value == b"v"
    with pytest.raises(netchan.StateError, match="explicit_ack"):
        message.ack()


def test_ack_after_close_rejected(jobs):
    sender, receiver = jobs
    sender.send(b"v", timeout=10)
    message = receiver.recv_message(timeout=10)
    message.close()

    with pytest.raises(netchan.StateError, match="closed"):
        message.ack()


def test_unacked_message_redelivered_after_importer_ends(exporter):
    sender = exporter.export("work", netchan.SEND)
    sender.send(b"unfinished", timeout=10)
    with netchan.Importer(connect=exporter.endpoint) as first:
        channel = first.import_("work", netchan.RECV, timeout=10, explicit_ack=True)
        message = channel.recv_message(timeout=10)
        assert message.attempts == 1
    # Closing the importer freed the message; it must not be used any more.
    with pytest.raises(netchan.Closed):
        message.ack()

    with netchan.Importer(connect=exporter.endpoint) as second:
        channel = second.import_("work", netchan.RECV, timeout=10, explicit_ack=True)
        again = channel.recv_message(timeout=10)
        assert again.value == b"unfinished"
        assert again.attempts == 2
        again.ack()
        sender.drain(timeout=10)


def test_ack_deadline_releases_value(exporter, importer):
    sender = exporter.export("slow", netchan.SEND)
    receiver = importer.import_(
        "slow", netchan.RECV, timeout=10, explicit_ack=True, ack_deadline=0.2
    )
    sender.send(b"late", timeout=10)
    first = receiver.recv_message(timeout=10)

    again = receiver.recv_message(timeout=10)

    assert again.value == b"late"
    assert again.attempts == 2
    with pytest.raises(netchan.Timeout):
        first.ack()
    again.ack()
