"""Failures raise the exception that matches the C library's error code, with its detail."""

import ctypes

import pytest

import netchan


def test_type_mismatch_names_both_types(exporter, importer, types):
    exporter.export("points", netchan.SEND, types.Point)

    with pytest.raises(netchan.TypeMismatch) as caught:
        importer.import_("points", netchan.RECV, types.Other, timeout=10)

    assert "netchan.pytest.Point" in str(caught.value)
    assert "netchan.pytest.Other" in str(caught.value)
    assert caught.value.code == 7
    assert isinstance(caught.value, netchan.NetchanError)


def test_typed_against_bytes_mismatch(exporter, importer, types):
    exporter.export("raw", netchan.SEND)

    with pytest.raises(netchan.TypeMismatch) as caught:
        importer.import_("raw", netchan.RECV, types.Point, timeout=10)

    assert "bytes" in caught.value.message
    assert "netchan.pytest.Point" in caught.value.message


def test_unknown_channel_not_found(exporter, importer):
    with pytest.raises(netchan.NotFound) as caught:
        importer.import_("missing", netchan.RECV, timeout=10)

    assert "missing" in str(caught.value)
    assert caught.value.code == 6


def test_wrong_direction(exporter, importer):
    exporter.export("outbound", netchan.SEND)

    with pytest.raises(netchan.DirectionMismatch) as caught:
        importer.import_("outbound", netchan.SEND, timeout=10)

    assert caught.value.code == 8


def test_duplicate_export(exporter):
    exporter.export("once", netchan.SEND)

    with pytest.raises(netchan.AlreadyExists, match="once"):
        exporter.export("once", netchan.RECV)


def test_bind_failure_names_endpoint():
    with pytest.raises(netchan.EndpointError) as caught:
        netchan.Exporter(bind="tcp://127.0.0.1:not-a-port")

    assert caught.value.code == 10
    assert caught.value.message


def test_invalid_capacity(exporter):
    with pytest.raises(netchan.InvalidArgument) as caught:
        exporter.export("zero", netchan.SEND, capacity=0)

    assert isinstance(caught.value, ValueError)
    assert "capacity" in str(caught.value)


def test_invalid_direction(exporter):
    with pytest.raises(ValueError, match="direction"):
        exporter.export("sideways", "sideways")


def test_wrong_value_type(exporter, types):
    channel = exporter.export("points", netchan.SEND, types.Point)

    with pytest.raises(TypeError, match="netchan.pytest.Point"):
        channel.send(types.Other(text="no"))
    with pytest.raises(TypeError, match="bytes"):
        exporter.export("raw", netchan.SEND).send("a str is not bytes")


def test_recv_on_sending_channel(exporter):
    channel = exporter.export("out", netchan.SEND)

    with pytest.raises(netchan.StateError) as caught:
        channel.recv(timeout=1)

    assert caught.value.code == 14


def test_send_on_receiving_channel(exporter):
    channel = exporter.export("in", netchan.RECV)

    with pytest.raises(netchan.StateError):
        channel.send(b"x", timeout=1)


def test_value_too_big(exporter):
    channel = exporter.export("small", netchan.SEND, max_value_size=16)

    with pytest.raises(netchan.TooBig) as caught:
        channel.send(b"x" * 17, timeout=1)

    assert caught.value.code == 12
    channel.send(b"x" * 16, timeout=1)


def test_error_strerror():
    error = netchan.NotFound("detail")
    assert error.strerror == "channel not found"
    assert error.message == "detail"


@pytest.fixture
def raw_typed_exporter(types):
    """A C-level exporter that announces netchan.pytest.Point but sends bytes as given.

    It stands for a faulty peer, which the binding's own typed channels cannot imitate because
    they always pack real messages.
    """
    lib = netchan._lib.lib
    handle = ctypes.c_void_p()
    chan = ctypes.c_void_p()
    assert lib.netchan_exporter_new(ctypes.byref(handle)) == 0
    try:
        assert lib.netchan_exporter_bind(handle, b"tcp://127.0.0.1:*") == 0
        buffer = ctypes.create_string_buffer(256)
        assert lib.netchan_exporter_endpoint(handle, buffer, 256) == 0
        fingerprint = netchan.type_fingerprint(types.Point).encode()
        err = lib.netchan_export_bytes(
            handle, b"points", 1, b"netchan.pytest.Point", fingerprint, None, ctypes.byref(chan)
        )
        assert err == 0

        def send(data: bytes) -> None:
            assert lib.netchan_send_bytes(chan, data, len(data), 10_000) == 0

        yield buffer.value.decode(), send
    finally:
        lib.netchan_exporter_destroy(ctypes.byref(handle))


def test_undecodable_value_raises_decode_error(raw_typed_exporter, types):
    endpoint, send = raw_typed_exporter
    with netchan.Importer(connect=endpoint) as importer:
        channel = importer.import_("points", netchan.RECV, types.Point, timeout=10)
        send(b"\xff\xff\xff")
        send(types.Point(x=5).SerializeToString())

        with pytest.raises(netchan.DecodeError) as caught:
            channel.recv(timeout=10)
        assert caught.value.data == b"\xff\xff\xff"
        assert caught.value.code == 13
        assert "netchan.pytest.Point" in str(caught.value)
        assert channel.recv(timeout=10) == types.Point(x=5)


def test_undecodable_message_can_be_released(raw_typed_exporter, types):
    endpoint, send = raw_typed_exporter
    with netchan.Importer(connect=endpoint) as importer:
        channel = importer.import_(
            "points", netchan.RECV, types.Point, timeout=10, explicit_ack=True
        )
        send(b"\x08")  # a truncated varint field

        with channel.recv_message(timeout=10) as message:
            with pytest.raises(netchan.DecodeError):
                _ = message.value
            assert message.data == b"\x08"
            message.ack()
