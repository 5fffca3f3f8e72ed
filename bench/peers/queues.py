"""Python peer of bench_queue.c (not named queue.py: that would shadow the
standard queue module): one producer thread hands items to one
consumer through a queue.Queue (unbounded, as weft's first row)."""
import queue
import threading
import time

from peer_common import main


def handoff(n):
    q = queue.Queue()

    def producer():
        put = q.put
        for i in range(1, n + 1):
            put(i)

    t = threading.Thread(target=producer)
    t0 = time.perf_counter()
    t.start()
    get = q.get
    total = 0
    for _ in range(n):
        total += get()
    t.join()
    dt = time.perf_counter() - t0
    assert total == n * (n + 1) // 2
    return dt, n


main({"handoff": handoff})
