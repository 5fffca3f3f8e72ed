/*
 * The workers' lives, seen from the parent: starting one, and the
 * collector thread, which takes the results, moves the overflow into the
 * task ring, and sees a worker exit (its pidfd) at once: one that retired
 * is replaced, one that died otherwise breaks the pool, and the task it
 * ran fails with what killed it.
 */

#include <dlfcn.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/process.h"
#include "internal/procpool_parent.h"
#include "weft/future.h"
#include "weft/process.h"
#include "weft/sync.h"

/* Start worker i: its slot, its process and its exit fd. */
int weft__pp_start_worker(weft__procpool *p, unsigned i)
{
    p->wargs[i] = (weft__worker_arg){.sh = p->sh, .index = i};
    p->sh->slots[i] = (weft__worker_slot){.state = WEFT__W_RUNNING};
    weft_process *proc;
    int r = weft_process_new(&proc, weft__worker_main, &p->wargs[i], &p->popts);
    if (r)
        return r;
    if ((r = weft_process_start(proc)) != 0) {
        weft_process_free(proc);
        return r;
    }
    /* The process's own exit fd (not one opened by pid now: a worker whose
     * initializer failed may be gone and reaped already). */
    int fd = weft__process_exit_fd(proc);
    if (fd < 0) {
        weft_process_kill(proc);
        weft_process_free(proc);
        return WEFT_ENOTSUP;
    }
    p->sh->slots[i].pid = weft_process_pid(proc);
    p->procs[i] = proc;
    p->pidfds[i] = fd;
    return 0;
}

/* How a worker ended, for messages: "worker 12 was killed by signal 9
 * (Killed)", "worker 12 exited with code 3". `code` is the process's exit
 * code (a signal's is its negated number). */
static void describe_exit(char *buf, size_t len, pid_t pid, int code)
{
    if (code < 0)
        snprintf(buf, len, "worker %d was killed by signal %d (%s)", (int)pid, -code,
                 strsignal(-code));
    else
        snprintf(buf, len, "worker %d exited with code %d", (int)pid, code);
}

/* The name of the function at index fi of the pool's table, where the
 * dynamic symbol table has it, or NULL. */
static const char *fn_name(const weft__procpool *p, int32_t fi)
{
    Dl_info info;
    weft__fnptr fn = fi >= 0 && fi < WEFT__PP_MAX_FNS ? p->fnptrs[fi] : NULL;
    if (fn && dladdr((void *)fn, &info) && info.dli_sname && info.dli_saddr == (void *)fn)
        return info.dli_sname;
    return NULL;
}

/* With mu held: " while running task 7 (fn)" for the task in slot s, with
 * its function's name (fn_name) and a map chunk's items. */
static void describe_task(const weft__procpool *p, const weft__task_slot *s, char *buf,
                          size_t len)
{
    const char *name = fn_name(p, s->fn);
    int n = snprintf(buf, len, " while running task %llu", (unsigned long long)s->seq);
    if (n < 0 || (size_t)n >= len)
        return;
    if (s->job && s->count > 1)
        snprintf(buf + n, len - (size_t)n, " (%s%smap items %zu to %zu)", name ? name : "",
                 name ? ", " : "", s->first, s->first + s->count - 1);
    else if (s->job)
        snprintf(buf + n, len - (size_t)n, " (%s%smap item %zu)", name ? name : "",
                 name ? ", " : "", s->first);
    else if (name)
        snprintf(buf + n, len - (size_t)n, " (%s)", name);
}

/* With mu held: whether tasks wait for a worker (in the overflow or the
 * ring). */
static bool work_queued(weft__procpool *p)
{
    if (p->ovf_head)
        return true;
    weft__ring *r = &p->sh->tasks;
    weft__ring_lock(r);
    bool any = weft__ring_peek_locked(r) != NULL;
    weft__ring_unlock(r);
    return any;
}

/* With mu held: the report of a failed initializer, as Python's "Exception
 * in initializer": the pool, the worker, the function and its code. */
static void describe_init(const weft__procpool *p, int code, pid_t pid, char *buf, size_t len)
{
    const char *name = fn_name(p, p->sh->init_fn);
    char what[64];
    if (code < 0)
        snprintf(what, sizeof what, "%s (%s)", weft_err_name(code), weft_strerror(code));
    else
        snprintf(what, sizeof what, "%d, not a WEFT_E* code", code);
    snprintf(buf, len,
             "Exception in initializer: process pool %p, worker %d: the initializer %s "
             "returned %s; the pool is broken",
             (const void *)p, (int)pid, name ? name : "(unnamed)", what);
}

/* Worker i has exited: reap it and replace it if it retired. A worker
 * that died otherwise breaks the pool; the task it was running, if any,
 * fails with what killed it and which task it was. */
static void worker_exited(weft__procpool *p, unsigned i)
{
    weft_process *proc = p->procs[i];
    weft_process_join(proc, WEFT_FOREVER);
    int code = 0;
    weft_process_exitcode(proc, &code);
    pid_t pid = weft_process_pid(proc);
    uint32_t state = __atomic_load_n(&p->sh->slots[i].state, __ATOMIC_ACQUIRE);
    uint64_t running = __atomic_load_n(&p->sh->slots[i].running, __ATOMIC_ACQUIRE);
    /* Whatever the worker answered before it died completes first: the
     * task it names as running may have been answered just before. */
    if (running) {
        pthread_mutex_lock(&p->drain_mu);
        weft__pp_drain_results(p);
        pthread_mutex_unlock(&p->drain_mu);
    }
    char cause[128], task[200] = "", msg[400];
    describe_exit(cause, sizeof cause, pid, code);
    weft_future *dead = NULL;
    pthread_mutex_lock(&p->mu);
    /* Others (terminate, workers) read procs[] under mu: free it after. */
    p->procs[i] = NULL;
    p->pidfds[i] = -1;
    weft_process_free(proc);
    bool killed_by_us = p->broken || p->terminated;
    uint32_t k = (uint32_t)(running - 1);
    if (running && !killed_by_us && k < p->nslots && p->slots[k].f &&
        weft__pp_slot_id(p, k) == running - 1) {
        /* Failed here, outside mu (its callbacks may call the pool). */
        describe_task(p, &p->slots[k], task, sizeof task);
        dead = p->slots[k].f;
        weft__pp_note_chunk_error(&p->slots[k]);
        weft__pp_slot_release(p, k);
    }
    char report[600] = "";
    int init_code = 0;
    if (killed_by_us) {
        /* Killed by weft__pp_break_pool or terminate: nothing more to do. */
    } else if (code == 0 && state == WEFT__W_RETIRING && (!p->stopped || work_queued(p))) {
        /* Retired (max_tasks_per_child): replaced while there is work for
         * it, shutdown or not, so that no queued task is dropped. */
        if (weft__pp_start_worker(p, i) != 0)
            weft__pp_break_pool(p, "a process pool worker could not be replaced");
    } else if (!(code == 0 && p->stopped && !dead)) {
        if (state == WEFT__W_INIT_FAILED) {
            init_code = p->sh->slots[i].init_code;
            describe_init(p, init_code, pid, report, sizeof report);
            snprintf(msg, sizeof msg, "a process pool worker's initializer failed (%s)", cause);
        } else {
            snprintf(msg, sizeof msg,
                     "a process in the process pool was terminated abruptly: %s%s", cause,
                     task[0] ? task : " while idle");
        }
        weft__pp_break_pool(p, msg);
    }
    pthread_mutex_unlock(&p->mu);
    if (report[0])
        weft_report_error("process pool initializer", init_code < 0 ? init_code : WEFT_EINVAL,
                          report);
    if (dead) {
        snprintf(msg, sizeof msg, "%s%s", cause, task);
        weft_future_set_error(dead, WEFT_EBROKEN, msg);
        weft_future_unref(dead);
    }
    weft__pp_finish_doomed(p);
}

void *weft__pp_collector_main(void *arg)
{
    weft__procpool *p = arg;
    weft__pp_shared *sh = p->sh;
    struct pollfd *fds = calloc(p->n + 1, sizeof *fds);
    unsigned *who = calloc(p->n + 1, sizeof *who);
    for (;;) {
        pthread_mutex_lock(&p->drain_mu);
        weft__pp_drain_results(p);
        pthread_mutex_unlock(&p->drain_mu);
        pthread_mutex_lock(&p->mu);
        weft__pp_note_started(p);
        weft__pp_flush_overflow(p);
        if (p->shutdown && !p->ovf_head && !p->stopped) {
            /* Everything submitted is in the ring: let the workers finish. */
            p->stopped = true;
            __atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
            weft__ring_lock(&sh->tasks); /* workers look at stop under it */
            weft__xword_signal_locked(&sh->tasks.items);
            weft__ring_unlock(&sh->tasks);
            weft__pp_wake_workers(sh, INT_MAX);
        }
        bool want_space = p->ovf_head != NULL;
        pthread_mutex_unlock(&p->mu);
        nfds_t n = 0;
        fds[n++] = (struct pollfd){.fd = sh->evfd, .events = POLLIN};
        for (unsigned i = 0; i < p->n; i++) {
            if (p->pidfds[i] >= 0) {
                who[n] = i;
                fds[n++] = (struct pollfd){.fd = p->pidfds[i], .events = POLLIN};
            }
        }
        if (n == 1) {
            /* Every worker is gone: the last results are in the ring. */
            pthread_mutex_lock(&p->drain_mu);
            weft__pp_drain_results(p);
            pthread_mutex_unlock(&p->drain_mu);
            break;
        }
        __atomic_store_n(&sh->collector_sleeps, 1, __ATOMIC_SEQ_CST);
        if (want_space)
            __atomic_store_n(&sh->want_space, 1, __ATOMIC_SEQ_CST);
        int timeout = -1;
        if (__atomic_load_n(&sh->results.tail, __ATOMIC_SEQ_CST) !=
            __atomic_load_n(&sh->results.head, __ATOMIC_SEQ_CST))
            timeout = 0; /* a result came in between: do not sleep */
        if (want_space && __atomic_load_n(&sh->tasks.tail, __ATOMIC_SEQ_CST) -
                                  __atomic_load_n(&sh->tasks.head, __ATOMIC_SEQ_CST) <
                              sh->tasks.cap / 2)
            timeout = 0;
        int rc = poll(fds, n, timeout);
        __atomic_store_n(&sh->collector_sleeps, 0, __ATOMIC_SEQ_CST);
        if (rc <= 0)
            continue;
        if (fds[0].revents) {
            uint64_t v;
            (void)!read(sh->evfd, &v, sizeof v);
        }
        for (nfds_t k = 1; k < n; k++)
            if (fds[k].revents)
                worker_exited(p, who[k]);
    }
    pthread_mutex_lock(&p->mu);
    weft__pp_fail_all(p, p->broken ? WEFT_EBROKEN : WEFT_ESHUTDOWN,
             p->broken ? "the process pool is broken" : "the process pool's workers are gone");
    pthread_mutex_unlock(&p->mu);
    weft__pp_finish_doomed(p);
    free(fds);
    free(who);
    weft_event_set(&p->done);
    return NULL;
}
