"""Python peer of bench_ipc.c: multiprocessing.Queue items between two
processes, and a multiprocessing.Pipe round trip to an echoing child. As
in the C workloads, items are 64 bytes and the clock starts once the first
item (or the first echo) is back, so process start-up is not counted."""
import multiprocessing
import time

from peer_common import main

ITEM_BYTES = 64


def producer(q, n):
    put = q.put
    for i in range(n):
        put(i.to_bytes(8, "little") + bytes(ITEM_BYTES - 8))


def queue_items(n):
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target=producer, args=(q, n))
    p.start()
    get = q.get
    assert get() == bytes(ITEM_BYTES)
    t0 = time.perf_counter()
    for i in range(1, n):
        item = get()
        assert len(item) == ITEM_BYTES and int.from_bytes(item[:8], "little") == i
    dt = time.perf_counter() - t0
    p.join()
    assert p.exitcode == 0
    return dt, n - 1


def echo(parent_end, child_end):
    parent_end.close()
    while True:
        msg = child_end.recv_bytes()
        if not msg:
            return
        child_end.send_bytes(msg)


def pipe_roundtrip(n):
    a, b = multiprocessing.Pipe(duplex=True)
    p = multiprocessing.Process(target=echo, args=(a, b))
    p.start()
    b.close()
    msg = bytes(ITEM_BYTES)
    a.send_bytes(msg)
    assert a.recv_bytes() == msg
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        msg = i.to_bytes(8, "little") + bytes(ITEM_BYTES - 8)
        a.send_bytes(msg)
        assert a.recv_bytes() == msg
    dt = time.perf_counter() - t0
    a.send_bytes(b"")
    p.join()
    assert p.exitcode == 0
    return dt, n


if __name__ == "__main__":
    main({"queue": queue_items, "pipe": pipe_roundtrip})
