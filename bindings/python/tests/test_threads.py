"""Many threads on one channel."""

import threading

import netchan

THREADS = 8
PER_THREAD = 500


def test_many_threads_send_on_one_channel(exporter, importer):
    sender = exporter.export("shared", netchan.SEND, capacity=64)
    receiver = importer.import_("shared", netchan.RECV, timeout=10)
    errors = []
    start = threading.Barrier(THREADS)

    def send_all(thread_id: int) -> None:
        try:
            start.wait(10)
            for i in range(PER_THREAD):
                sender.send(f"{thread_id}:{i}".encode(), timeout=10)
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=send_all, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    received = [receiver.recv(timeout=10) for _ in range(THREADS * PER_THREAD)]
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert len(set(received)) == THREADS * PER_THREAD
    per_thread = {t: [] for t in range(THREADS)}
    for value in received:
        thread_id, index = value.decode().split(":")
        per_thread[int(thread_id)].append(int(index))
    for thread_id, indexes in per_thread.items():
        assert indexes == list(range(PER_THREAD)), f"thread {thread_id} out of order"
    sender.drain(timeout=10)


def test_many_threads_receive_from_one_channel(exporter, importer):
    sender = exporter.export("fanout", netchan.SEND)
    receiver = importer.import_("fanout", netchan.RECV, timeout=10)
    total = THREADS * PER_THREAD
    values_per_thread = [[] for _ in range(THREADS)]

    def receive_all(slot: list) -> None:
        for value in receiver:
            slot.append(int(value))

    threads = [threading.Thread(target=receive_all, args=(slot,)) for slot in values_per_thread]
    for thread in threads:
        thread.start()
    for i in range(total):
        sender.send(b"%d" % i, timeout=10)
    sender.close()
    for thread in threads:
        thread.join(30)

    assert not any(thread.is_alive() for thread in threads)
    everything = sorted(value for slot in values_per_thread for value in slot)
    assert everything == list(range(total))
    for slot in values_per_thread:
        assert slot == sorted(slot)
