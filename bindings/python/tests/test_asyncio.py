"""asyncio support through the channels' and endpoints' file descriptors."""

import asyncio
import threading
import time

import pytest

import netchan


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_recv_async(exporter, importer):
    sender = exporter.export("async", netchan.SEND)
    receiver = importer.import_("async", netchan.RECV, timeout=10)

    async def main():
        waiting = asyncio.ensure_future(receiver.recv_async())
        await asyncio.sleep(0)  # the coroutine reaches its wait before the value is sent
        assert not waiting.done()
        sender.send(b"hello", timeout=10)
        return await waiting

    assert run(main()) == b"hello"


def test_async_for_ends_on_close(exporter, importer, types):
    sender = exporter.export("points", netchan.SEND, types.Point)
    receiver = importer.import_("points", netchan.RECV, types.Point, timeout=10)

    def produce():
        for i in range(300):
            sender.send(types.Point(x=i), timeout=10)
        sender.close()

    async def main():
        producer = threading.Thread(target=produce)
        producer.start()
        values = [point.x async for point in receiver]
        producer.join(10)
        return values

    assert run(main()) == list(range(300))


def test_recv_async_timeout(exporter, importer):
    exporter.export("silent", netchan.SEND)
    receiver = importer.import_("silent", netchan.RECV, timeout=10)

    async def main():
        started = time.monotonic()
        with pytest.raises(netchan.Timeout):
            await receiver.recv_async(timeout=0.2)
        return time.monotonic() - started

    elapsed = run(main())
    assert 0.2 <= elapsed < 5


def test_two_coroutines_wait_on_one_channel(exporter, importer):
    sender = exporter.export("shared", netchan.SEND)
    receiver = importer.import_("shared", netchan.RECV, timeout=10)

    async def main():
        first = asyncio.ensure_future(receiver.recv_async())
        second = asyncio.ensure_future(receiver.recv_async())
        await asyncio.sleep(0)
        sender.send(b"a", timeout=10)
        sender.send(b"b", timeout=10)
        return sorted(await asyncio.gather(first, second))

    assert run(main()) == [b"a", b"b"]


def test_send_async_waits_for_room(exporter, importer):
    sender = exporter.export("narrow", netchan.SEND, capacity=4)
    receiver = importer.import_("narrow", netchan.RECV, timeout=10, capacity=4)

    async def main():
        async def produce():
            for i in range(100):
                await sender.send_async(b"%d" % i, timeout=10)
            sender.close()

        producer = asyncio.ensure_future(produce())
        values = [value async for value in receiver]
        await producer
        return values

    assert run(main()) == [b"%d" % i for i in range(100)]


def test_recv_message_async_explicit_ack(exporter, importer):
    sender = exporter.export("jobs", netchan.SEND)
    receiver = importer.import_("jobs", netchan.RECV, timeout=10, explicit_ack=True)
    sender.send(b"job", timeout=10)

    async def main():
        message = await receiver.recv_message_async(timeout=10)
        message.ack()
        return message.value

    assert run(main()) == b"job"
    sender.drain(timeout=10)


def test_next_event_async(exporter):
    async def main():
        waiting = asyncio.ensure_future(exporter.next_event_async(timeout=20))
        await asyncio.sleep(0)
        importer = await asyncio.get_running_loop().run_in_executor(
            None, lambda: netchan.Importer(connect=exporter.endpoint)
        )
        try:
            # The importer's session starts with its first channel.
            exporter.export("events", netchan.SEND)
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: importer.import_("events", netchan.RECV, timeout=10)
            )
            return await waiting
        finally:
            importer.close()

    event = run(main())
    assert event.type is netchan.EventType.CONNECTED


def test_close_fails_waiting_coroutine(exporter):
    importer = netchan.Importer(connect=exporter.endpoint)
    exporter.export("quiet", netchan.SEND)
    receiver = importer.import_("quiet", netchan.RECV, timeout=10)

    async def main():
        waiting = asyncio.ensure_future(receiver.recv_async())
        await asyncio.sleep(0)
        importer.close()
        with pytest.raises(netchan.Closed):
            await waiting

    run(main())
