/*
 * A pool's end: shutdown (the workers finish what was submitted), forced
 * shutdown (they are killed), the teardown of its threads, processes and
 * fds, and the release of its memory with the last reference.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/procpool_parent.h"
#include "internal/share.h"
#include "weft/process.h"
#include "weft/sync.h"

/* Join the collector once it has finished (`done` is set), whoever asks
 * first: a waiting shutdown (at exit the pool may never be freed, and an
 * unjoined thread is a leak) or the teardown. Not from the collector
 * itself, which runs done callbacks that may shut the pool down. */
static void join_collector(weft__procpool *p)
{
    if (!__atomic_load_n(&p->collector_started, __ATOMIC_ACQUIRE) ||
        pthread_equal(pthread_self(), p->collector))
        return;
    if (__atomic_exchange_n(&p->collector_started, false, __ATOMIC_ACQ_REL))
        pthread_join(p->collector, NULL);
}

/* The executor's shutdown: refuse new work; the collector lets the workers
 * finish what is queued. */
int weft__pp_shutdown(weft_executor *ex, bool cancel_futures, bool wait, int64_t deadline)
{
    weft__procpool *p = (weft__procpool *)ex;
    weft__pp_shared *sh = p->sh;
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    if (cancel_futures)
        weft__pp_cancel_queued(p); /* what runs goes on */
    pthread_mutex_unlock(&p->mu);
    weft__pp_finish_doomed(p);
    /* The collector sets stop once the overflow is in the ring. */
    uint64_t one = 1;
    (void)!write(sh->evfd, &one, sizeof one);
    if (!wait)
        return 0;
    double timeout = WEFT_FOREVER;
    if (deadline != WEFT__NO_DEADLINE) {
        int64_t left = deadline - weft__now_ns();
        timeout = left > 0 ? (double)left / 1e9 : 0;
    }
    int r = weft_event_wait(&p->done, timeout);
    if (r == WEFT_ETIMEDOUT)
        return r;
    join_collector(p);
    return 0;
}

/* Stop the pool now: refuse new work, cancel what no worker took, end
 * every worker (SIGKILL, or SIGTERM with `term`), and fail the futures of
 * the tasks they ran with `code` and `msg`. Nothing for a broken pool or
 * a second time. */
void weft__pp_force_shutdown(weft__procpool *p, bool term, int code, const char *msg)
{
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    if (!p->terminated && !p->broken) {
        p->terminated = true;
        weft__pp_cancel_queued(p);
        for (unsigned i = 0; i < p->n; i++) {
            if (p->procs[i] && (!term || weft_process_terminate(p->procs[i]) != 0))
                weft_process_kill(p->procs[i]);
        }
        weft__pp_fail_all(p, code, msg);
    }
    pthread_mutex_unlock(&p->mu);
    weft__pp_finish_doomed(p);
    uint64_t one = 1;
    (void)!write(p->sh->evfd, &one, sizeof one);
}

/* Stop the collector and the workers and close the pool's fds. Memory
 * stays until the last reference goes (weft__pp_unref). */
static void pool_teardown(weft__procpool *p)
{
    join_collector(p);
    for (unsigned i = 0; i < p->n; i++) {
        if (p->procs && p->procs[i]) {
            weft_process_kill(p->procs[i]);
            weft_process_free(p->procs[i]);
            p->procs[i] = NULL;
        }
        if (p->pidfds)
            p->pidfds[i] = -1; /* the process's own: gone with it */
    }
    weft__pp_shared *sh = p->sh;
    if (sh && sh->evfd >= 0) {
        weft__share_fd_remove(sh->evfd);
        close(sh->evfd);
        sh->evfd = -1;
    }
}

/* Drop a reference (the executor's, or a future's): the last frees the
 * pool's memory. */
void weft__pp_unref(weft__procpool *p)
{
    if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    weft__pp_shared *sh = p->sh;
    if (sh) {
        weft__shared_free(sh->tasks.data);
        weft__shared_free(sh->results.data);
        weft__shared_free(sh->slots);
        weft__shared_free(sh->initarg);
        weft__shared_free(sh);
    }
    weft__shared_free(p->wargs);
    free(p->procs);
    free(p->pidfds);
    free(p->slots);
    free(p->drain_buf.p);
    weft_event_destroy(&p->done);
    pthread_mutex_destroy(&p->drain_mu);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* The executor's end: teardown, then its reference goes. */
void weft__pp_release(weft__procpool *p)
{
    pool_teardown(p);
    weft__pp_unref(p);
}

void weft__pp_destroy(weft_executor *ex)
{
    weft__pp_release((weft__procpool *)ex);
}
