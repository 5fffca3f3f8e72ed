"""Python peer of bench_cond.c: round trips through a threading.Condition."""
import threading
import time

from peer_common import main


def pingpong(n):
    cond = threading.Condition(threading.Lock())
    turn = [0]  # 1: B's turn, 0: A's

    def ponger():
        with cond:
            for _ in range(n):
                while turn[0] != 1:
                    cond.wait()
                turn[0] = 0
                cond.notify()

    t = threading.Thread(target=ponger)
    t.start()
    t0 = time.perf_counter()
    with cond:
        for _ in range(n):
            turn[0] = 1
            cond.notify()
            while turn[0] != 0:
                cond.wait()
    t.join()
    return time.perf_counter() - t0, n


main({"pingpong": pingpong})
