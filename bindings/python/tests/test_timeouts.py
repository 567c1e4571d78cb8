"""Timeouts of send, recv, drain, import_ and next_event."""

import time

import pytest

import netchan


def test_recv_nowait_would_block(exporter, importer):
    exporter.export("idle", netchan.SEND)
    channel = importer.import_("idle", netchan.RECV, timeout=10)

    with pytest.raises(netchan.WouldBlock) as caught:
        channel.recv(timeout=0)

    assert caught.value.code == 4
    assert isinstance(caught.value, netchan.Timeout)


def test_recv_timeout_waits_that_long(exporter, importer):
    exporter.export("idle", netchan.SEND)
    channel = importer.import_("idle", netchan.RECV, timeout=10)

    started = time.monotonic()
    with pytest.raises(netchan.Timeout) as caught:
        channel.recv(timeout=0.35)
    elapsed = time.monotonic() - started

    assert elapsed >= 0.35
    assert elapsed < 5
    assert caught.value.code == 3
    assert "idle" in str(caught.value)


def test_send_times_out_when_full(exporter):
    channel = exporter.export("full", netchan.SEND, capacity=2)
    channel.send(b"1", timeout=0)
    channel.send(b"2", timeout=0)

    with pytest.raises(netchan.WouldBlock):
        channel.send(b"3", timeout=0)
    with pytest.raises(netchan.Timeout):
        channel.send(b"3", timeout=0.2)
    assert channel.pending == 2


def test_drain_timeout_reports_pending(exporter):
    channel = exporter.export("undelivered", netchan.SEND)
    for i in range(3):
        channel.send(b"%d" % i, timeout=1)

    with pytest.raises(netchan.Timeout) as caught:
        channel.drain(timeout=0.2)

    assert caught.value.pending == 3
    assert "3 values" in str(caught.value)


def test_import_times_out_without_exporter(tmp_path):
    with netchan.Importer(connect=f"ipc://{tmp_path}/nobody") as importer:
        started = time.monotonic()
        with pytest.raises(netchan.Timeout, match="no exporter answered"):
            importer.import_("anything", netchan.RECV, timeout=0.3)
        assert time.monotonic() - started < 5


def test_next_event_timeout_returns_none(exporter):
    list(exporter.events())
    assert exporter.next_event(timeout=0.1) is None


def test_negative_timeout_rejected(exporter):
    channel = exporter.export("any", netchan.SEND)
    with pytest.raises(ValueError, match="timeout"):
        channel.send(b"x", timeout=-1)


def test_sliced_wait_sees_late_value(exporter, importer):
    # A wait longer than one slice of the binding's wait loop still gets a value that arrives
    # after the first slice ended.
    sender = exporter.export("late", netchan.SEND)
    channel = importer.import_("late", netchan.RECV, timeout=10)
    timer = __import__("threading").Timer(0.3, lambda: sender.send(b"late", timeout=5))
    timer.start()
    try:
        assert channel.recv(timeout=10) == b"late"
    finally:
        timer.join()
