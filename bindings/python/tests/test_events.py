"""Connection events and logging."""

import logging
import threading

import netchan
from helpers import wait_for


def next_of_type(owner, event_type, timeout=10):
    while True:
        event = owner.next_event(timeout=timeout)
        assert event is not None, f"no {event_type.name} event within {timeout} s"
        if event.type == event_type:
            return event


def test_connected_and_ended_events(exporter):
    exporter.export("watched", netchan.SEND)
    with netchan.Importer(connect=exporter.endpoint) as importer:
        importer.import_("watched", netchan.RECV, timeout=10)
        connected = next_of_type(exporter, netchan.EventType.CONNECTED)
        assert len(connected.peer) == 32
        assert connected.reason is netchan.EventReason.NONE
        welcomed = next_of_type(importer, netchan.EventType.CONNECTED)
        assert len(welcomed.peer) == 16

    ended = next_of_type(exporter, netchan.EventType.ENDED)
    assert ended.peer == connected.peer


def test_events_iterator_does_not_wait(exporter):
    assert list(exporter.events()) == []


def test_event_fileno_readable_with_event(exporter):
    import select

    exporter.export("watched", netchan.SEND)
    with netchan.Importer(connect=exporter.endpoint) as importer:
        importer.import_("watched", netchan.RECV, timeout=10)
        readable, _, _ = select.select([exporter.event_fileno()], [], [], 10)
        assert readable == [exporter.event_fileno()]


def test_enable_logging_forwards_messages(exporter):
    records = []
    ready = threading.Event()

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)
            ready.set()

    logger = logging.getLogger("netchan.test")
    logger.addHandler(Collect())
    logger.setLevel(logging.DEBUG)
    netchan.enable_logging(logging.DEBUG, logger=logger)
    try:
        exporter.export("logged", netchan.SEND)
        with netchan.Importer(connect=exporter.endpoint) as importer:
            importer.import_("logged", netchan.RECV, timeout=10)
        wait_for(lambda: records, description="a log record from the library")
    finally:
        netchan.disable_logging()

    assert all(isinstance(record.getMessage(), str) for record in records)
    assert records[0].levelno in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
