/*
 * The parent takes results: it copies each record out of the result ring
 * and completes its task's future (or writes its map's outputs). Workers
 * write the records, and the parent trusts none of them (see
 * internal/procpool.h).
 */

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/check.h"
#include "internal/procpool_parent.h"
#include "weft/future.h"
#include "weft/procpool.h"

/* A worker's large result: read it into a new weft_bytes, then let the
 * worker close its memfd. The reference is the worker's word: it must
 * name a regular file (a FIFO would hold the open up for ever;
 * weft__large_open does not wait) that holds the length it says, or no
 * memory is sized by it. */
static int take_large(weft__procpool *p, const void *payload, size_t len, weft_bytes **out)
{
    weft__large_ref ref;
    if (len != sizeof ref)
        return WEFT_EBROKEN;
    memcpy(&ref, payload, sizeof ref);
    int fd = weft__large_open(&ref);
    struct stat st;
    int rc = fd < 0 ? fd : fstat(fd, &st) != 0 ? WEFT_EBROKEN : 0;
    if (rc == 0 && (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < weft__bytes_alloc_size(0) ||
                    ref.len > (uint64_t)st.st_size - weft__bytes_alloc_size(0)))
        rc = WEFT_EBROKEN;
    if (rc == 0)
        rc = weft_bytes_new(out, NULL, ref.len);
    for (size_t off = 0; rc == 0 && off < ref.len;) {
        ssize_t n = pread(fd, (*out)->data + off, ref.len - off, (off_t)(WEFT__LARGE_DATA + off));
        if (n <= 0) {
            rc = WEFT_EBROKEN;
            weft_bytes_free(*out);
            *out = NULL;
        }
        off += n > 0 ? (size_t)n : 0;
    }
    if (fd >= 0)
        close(fd);
    if (ref.worker < p->n) {
        weft__worker_slot *slot = &p->sh->slots[ref.worker];
        __atomic_store_n(&slot->ack.word, 1, __ATOMIC_SEQ_CST);
        weft__xword_wake(&slot->ack, 1);
    }
    return rc;
}

/* Whether a bytes map's result entries (internal/procpool.h) frame within
 * data[0..len): `count` entries, at most `items` of them, each in bounds,
 * each status 0 or negative, the first failure the last entry. */
static bool entries_frame(const unsigned char *data, size_t len, uint32_t count, size_t items)
{
    if (count > items)
        return false;
    size_t off = 0;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t st, has;
        uint64_t n;
        if (len - off < 16)
            return false;
        memcpy(&st, data + off, 4);
        memcpy(&has, data + off + 4, 4);
        memcpy(&n, data + off + 8, 8);
        if ((int32_t)st > 0 || has > 1 || (st && has) || n > len - off - 16 ||
            WEFT__PAD8(n) > len - off - 16 || (st && k + 1 != count))
            return false;
        off += 16 + WEFT__PAD8(n);
    }
    return true;
}

/* A result record, copied out of the ring: complete its future. The record
 * is a worker's, and a buggy worker may have written anything in it: what
 * it says must be what its task can have produced (the kind its slot
 * expects, a negative code or 0, no more items than its chunk has, every
 * length within the payload), or the future fails with WEFT_EBROKEN
 * rather than have its result, or another task's destination, written
 * from it. */
static void complete(weft__procpool *p, const weft__rec *h, const unsigned char *data,
                     weft_bytes *large)
{
    uint32_t i = (uint32_t)h->id;
    pthread_mutex_lock(&p->mu);
    if (i >= p->nslots || !p->slots[i].f || weft__pp_slot_id(p, i) != h->id) {
        pthread_mutex_unlock(&p->mu); /* failed already (broken) */
        weft_bytes_free(large);
        return;
    }
    weft__task_slot *s = &p->slots[i];
    weft__map_job *j = s->job;
    weft_future *f = s->f;
    int code = h->status;
    char *msg = NULL;
    void *result = NULL;
    uint32_t kind = !j ? WEFT__REC_RESULT
                    : j->out_size ? WEFT__REC_CHUNK_RESULT
                                  : WEFT__REC_MULTI_RESULT;
    bool bad = h->kind != kind || code > 0;
    if (bad) {
        /* another task's kind of result, or not a code */
    } else if (h->kind == WEFT__REC_CHUNK_RESULT) {
        bad = h->count > s->count || h->len != (size_t)h->count * j->out_size;
        if (!bad && j->out && h->len)
            memcpy((char *)j->out + s->first * j->out_size, data, h->len);
        if (code == 0 && h->count != s->count)
            code = WEFT_EBROKEN;
    } else if (h->kind == WEFT__REC_MULTI_RESULT) {
        weft_bytes **results = j->out;
        size_t off = 0;
        uint32_t k = 0;
        bad = !entries_frame(data, h->len, h->count, s->count);
        for (; !bad && k < h->count; k++) {
            uint32_t st, has;
            uint64_t len;
            memcpy(&st, data + off, 4);
            memcpy(&has, data + off + 4, 4);
            memcpy(&len, data + off + 8, 8);
            const unsigned char *bytes = data + off + 16;
            off += 16 + WEFT__PAD8(len);
            if (st != 0) {
                code = (int32_t)st;
                msg = len ? strndup((const char *)bytes, len) : NULL;
                break;
            }
            if (has && results &&
                weft_bytes_new(&results[s->first + k], bytes, len) != 0) {
                code = WEFT_ENOMEM;
                break;
            }
            if (results && j->ok)
                j->ok[s->first + k] = 1;
        }
        if (code == 0 && k != s->count)
            code = WEFT_EBROKEN;
    } else if (large) {
        result = large;
        large = NULL;
    } else if (code == 0) {
        /* count: 1 with a result (maybe empty), 0 with none */
        bad = h->count > 1 || (h->count == 0 && h->len);
        if (!bad && h->count && weft_bytes_new((weft_bytes **)&result, data, h->len) != 0)
            code = WEFT_ENOMEM;
    } else {
        bad = h->count != 0;
        if (!bad && h->len)
            msg = strndup((const char *)data, h->len);
    }
    weft_bytes_free(large);
    if (bad) {
        code = WEFT_EBROKEN;
        msg = strdup("a process pool worker sent a malformed result");
    }
    if (code != 0)
        weft__pp_note_chunk_error(s);
    weft__pp_slot_release(p, i);
    pthread_mutex_unlock(&p->mu);
    /* Refused only when the caller ended the future itself (a misuse):
     * then the result is nobody's. */
    if (code == 0 && weft_future_set_result(f, result) != 0)
        weft_bytes_free(result);
    else if (code != 0)
        weft_future_set_error(f, code, msg);
    free(msg);
    weft_future_unref(f);
}

/* Drain the result ring; the copy is made with the ring locked, the
 * completion (which may run callbacks) without. A ring that does not
 * frame breaks the pool: nothing after the bad record can be read, and
 * its results may be any task's. */
bool weft__pp_drain_results(weft__procpool *p)
{
    weft__ring *r = &p->sh->results;
    weft__wbuf *buf = &p->drain_buf;
    bool any = false;
    for (;;) {
        weft__ring_lock(r);
        weft__rec *h;
        if (weft__ring_peek_checked(r, &h) != 0) {
            __atomic_store_n(&r->head, r->tail, __ATOMIC_RELEASE); /* dropped */
            weft__xword_signal_locked(&r->space);
            weft__ring_unlock(r);
            weft__xword_wake(&r->space, INT_MAX);
            pthread_mutex_lock(&p->mu);
            weft__pp_break_pool(p, "a process pool worker wrote a corrupt result record");
            pthread_mutex_unlock(&p->mu);
            weft__pp_finish_doomed(p);
            return true;
        }
        if (!h) {
            weft__ring_unlock(r);
            return any;
        }
        weft__rec hd = *h;
        bool ok = weft__wbuf_fit(buf, hd.len) == 0;
        if (ok && hd.len)
            memcpy(buf->p, h + 1, hd.len);
        weft__ring_pop_locked(r, h);
        weft__ring_unlock(r);
        weft__xword_wake(&r->space, INT_MAX);
        weft_bytes *large = NULL;
        if (!ok) {
            hd.status = WEFT_ENOMEM;
            hd.len = 0;
            hd.count = 0;
        } else if (hd.kind == WEFT__REC_RESULT && hd.count == WEFT__COUNT_LARGE &&
                   hd.status == 0) {
            hd.status = take_large(p, buf->p, hd.len, &large);
            hd.count = hd.status == 0;
            hd.len = 0;
        }
        complete(p, &hd, buf->p, large);
        any = true;
    }
}
