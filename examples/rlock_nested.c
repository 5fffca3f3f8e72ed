/*
 * rlock_nested.c - a reentrant lock taken twice by the same thread.
 * Mirrors seed 003, "RLock":
 *
 *   rlock = threading.RLock()
 *   with rlock:
 *       with rlock:  # Same thread can re-acquire
 *           print("Nested lock")
 *
 * A plain Lock would deadlock on the second acquire. The RLock remembers
 * its owner and a count; it is free again after as many releases as
 * acquires. The second half shows what another thread sees meanwhile.
 */
#include <stdio.h>

#include "check.h"

static weft_rlock rlock = WEFT_RLOCK_INIT; /* rlock = threading.RLock() */

/* Runs while main holds the rlock twice. */
static void *other(void *arg)
{
    /* rlock.acquire(blocking=False) -> False */
    int rc = weft_rlock_acquire(&rlock, 0);
    printf("other thread: acquire(0) -> %s\n", weft_err_name(rc));
    /* rlock.release() from a non-owner: Python raises RuntimeError. */
    rc = weft_rlock_release(&rlock);
    printf("other thread: release -> %s\n", weft_err_name(rc));
    return NULL;
}

int main(void)
{
    weft_thread *t;

    CHECK(weft_rlock_acquire(&rlock, WEFT_FOREVER));     /* with rlock: */
    CHECK(weft_rlock_acquire(&rlock, WEFT_FOREVER));     /*     with rlock: */
    printf("Nested lock (depth %u)\n", weft_rlock_count(&rlock));

    /* Joining while holding the lock is safe here: `other` never blocks on
     * it, it only tries. */
    CHECK(weft_thread_new(&t, other, NULL, NULL));
    CHECK(weft_thread_start(t));
    CHECK(weft_thread_join(t, WEFT_FOREVER));
    weft_thread_unref(t);

    CHECK(weft_rlock_release(&rlock));
    printf("after one release: depth %u, still owned: %s\n", weft_rlock_count(&rlock),
           weft_rlock_is_owned(&rlock) ? "yes" : "no");
    CHECK(weft_rlock_release(&rlock));
    printf("after two releases: depth %u, still owned: %s\n", weft_rlock_count(&rlock),
           weft_rlock_is_owned(&rlock) ? "yes" : "no");
    weft_rlock_destroy(&rlock);
    return 0;
}

/* Output:
 * expect: ^Nested lock \(depth 2\)$
 * expect: ^other thread: acquire\(0\) -> ETIMEDOUT$
 * expect: ^other thread: release -> ENOTOWNER$
 * expect: ^after one release: depth 1, still owned: yes$
 * expect: ^after two releases: depth 0, still owned: no$
 */
