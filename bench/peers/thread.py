"""Python peer of bench_thread.c: Thread start + join."""
import threading
import time

from peer_common import main


def nothing():
    pass


def start_join(n):
    t0 = time.perf_counter()
    for _ in range(n):
        t = threading.Thread(target=nothing)
        t.start()
        t.join()
    return time.perf_counter() - t0, n


main({"start_join": start_join})
