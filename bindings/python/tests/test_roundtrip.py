"""Values sent through Python exporters and importers arrive intact and in order."""

import threading

import pytest

import netchan


def test_bytes_roundtrip(exporter, importer):
    sender = exporter.export("words", netchan.SEND)
    receiver = importer.import_("words", netchan.RECV, timeout=10)
    values = [b"hello", b"", b"\x00\xffbinary\n", bytearray(b"from bytearray"), b"x" * 100_000]

    for value in values:
        sender.send(value, timeout=10)
    sender.close()

    received = list(receiver)
    assert received == [bytes(value) for value in values]
    sender.drain(timeout=10)
    assert sender.pending == 0


def test_typed_roundtrip(exporter, importer, types):
    Everything = types.Everything
    sender = exporter.export("things", "send", Everything)
    receiver = importer.import_("things", "recv", Everything, timeout=10)
    value = Everything(
        late=7,
        early=-3,
        d=2.5,
        f=1.5,
        i64=-(2**40),
        u64=2**63,
        i32=-5,
        fx64=9,
        fx32=8,
        b=True,
        s="text é",
        raw=b"\x00\x01",
        u32=4_000_000_000,
        sf32=-9,
        sf64=-(2**50),
        si32=-77,
        si64=-(2**60),
        tags=["a", "b"],
        name="chosen",
    )
    value.point.x = 3
    value.point.label = "p"
    value.points.add(x=1, y=2)
    value.counts["k"] = 4
    kind = types.pool.FindEnumTypeByName("netchan.pytest.Everything.Nested.Kind")
    value.nested.kind = kind.values_by_name["BIG"].number
    value.nested.children.add()

    sender.send(value, timeout=10)
    received = receiver.recv(timeout=10)

    assert isinstance(received, Everything)
    assert received == value
    assert received.WhichOneof("choice") == "name"


def test_typed_values_in_order(exporter, importer, types):
    Point = types.Point
    sender = exporter.export("points", netchan.SEND, Point, capacity=16)
    receiver = importer.import_("points", netchan.RECV, Point, timeout=10, capacity=8)
    errors = []

    def send_all():
        try:
            for i in range(2000):
                sender.send(Point(x=i, y=-i, label=str(i)), timeout=10)
        except netchan.NetchanError as error:
            errors.append(error)

    thread = threading.Thread(target=send_all)
    thread.start()
    received = [receiver.recv(timeout=10) for _ in range(2000)]
    thread.join(10)

    assert errors == []
    assert received == [Point(x=i, y=-i, label=str(i)) for i in range(2000)]


def test_importer_sends_to_exporter(exporter, importer, types):
    Point = types.Point
    receiver = exporter.export("inbox", netchan.RECV, Point)
    sender = importer.import_("inbox", netchan.SEND, Point, timeout=10)

    for i in range(100):
        sender.send(Point(x=i), timeout=10)
    sender.close()

    assert [point.x for point in receiver] == list(range(100))
    sender.drain(timeout=10)


def test_ipc_endpoint(ipc_endpoint):
    with netchan.Exporter(bind=ipc_endpoint) as exporter:
        assert exporter.endpoint == ipc_endpoint
        sender = exporter.export("local", netchan.SEND)
        with netchan.Importer(connect=ipc_endpoint) as importer:
            receiver = importer.import_("local", netchan.RECV, timeout=10)
            sender.send(b"over ipc", timeout=10)
            assert receiver.recv(timeout=10) == b"over ipc"


def test_unacknowledged_channel(exporter, importer):
    sender = exporter.export("fast", netchan.SEND, unacknowledged=True)
    receiver = importer.import_("fast", netchan.RECV, timeout=10, unacknowledged=True)

    for i in range(100):
        sender.send(b"%d" % i, timeout=10)

    assert [receiver.recv(timeout=10) for _ in range(100)] == [b"%d" % i for i in range(100)]


def test_stats_count_values(exporter, importer):
    sender = exporter.export("counted", netchan.SEND)
    receiver = importer.import_("counted", netchan.RECV, timeout=10)
    for _ in range(5):
        sender.send(b"v", timeout=10)
    for _ in range(5):
        receiver.recv(timeout=10)
    sender.drain(timeout=10)

    sent = sender.stats
    received = receiver.stats
    assert sent["sent"] == 5
    assert sent["acknowledged"] == 5
    assert sent["pending"] == 0
    assert sent["importers"] == 1
    assert received["received"] == 5
    assert received["taken"] == 5
    assert set(sent) >= {"delivered", "redelivered", "in_flight", "taken_back", "dead_lettered"}


def test_channel_properties(exporter, types):
    channel = exporter.export("props", "send", types.Point)
    assert channel.name == "props"
    assert channel.direction is netchan.Direction.SEND
    assert channel.type is types.Point
    assert channel.type_name == "netchan.pytest.Point"
    assert channel.fingerprint == netchan.type_fingerprint(types.Point)
    assert exporter.channels == {"props": channel}
    assert "props" in repr(channel)
    assert channel.fileno() >= 0


def test_library_version():
    assert netchan.library_version().count(".") == 2


@pytest.mark.parametrize("size", [1, 1 << 20])
def test_max_value_size_accepted(exporter, importer, size):
    sender = exporter.export("sized", netchan.SEND)
    receiver = importer.import_("sized", netchan.RECV, timeout=10)
    sender.send(b"z" * size, timeout=10)
    assert len(receiver.recv(timeout=10)) == size
