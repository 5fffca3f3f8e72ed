/*
 * wt.h - the small layer weft's tests put over Check (libcheck).
 *
 * Every test runs in its own forked process with a timeout (Check's fork
 * mode), so a crash or a deadlock fails that test only. Each test file ends
 * with WT_MAIN("name", timeout_seconds, test, test, ...).
 *
 *   WT_OK(call)          the call returns 0
 *   WT_ERR(call, code)   the call returns exactly `code`
 * Both print the call, and the code's name on failure.
 */
#ifndef WEFT_TESTS_WT_H
#define WEFT_TESTS_WT_H

#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal/park.h"
#include "weft.h"

#define WT_OK(call)                                                                     \
    do {                                                                                \
        int wt_rc_ = (call);                                                            \
        ck_assert_msg(wt_rc_ == 0, "%s returned %d (%s), expected 0", #call, wt_rc_,    \
                      weft_err_name(wt_rc_));                                           \
    } while (0)

#define WT_ERR(call, code)                                                              \
    do {                                                                                \
        int wt_rc_ = (call), wt_want_ = (code);                                         \
        ck_assert_msg(wt_rc_ == wt_want_, "%s returned %d (%s), expected %d (%s)", #call, \
                      wt_rc_, weft_err_name(wt_rc_), wt_want_, weft_err_name(wt_want_)); \
    } while (0)

/* Spin until the thread owning wait slot `s` parks for `why` (the slot is
 * written just before it sleeps): the deterministic way to know a waiter is
 * queued. */
static inline void wt_wait_until_parked(const weft__wait_slot *s, weft_wait_kind why)
{
    while (__atomic_load_n(&s->why, __ATOMIC_ACQUIRE) != (int)why)
        sched_yield();
}

/* Spin until weft thread `t` shows `status` and, when waiting, `kind` (and
 * `obj`, unless NULL). */
static inline void wt_wait_for_state(const weft_thread *t, weft_thread_status status,
                                     weft_wait_kind kind, const void *obj)
{
    for (;;) {
        weft_thread_state st = weft_thread_get_state(t);
        if (st.status == status && st.waiting_on == kind && (!obj || st.object == obj))
            return;
        sched_yield();
    }
}

/* Run the listed tests as one suite; the timeout (seconds) is per test and
 * is stretched by CK_TIMEOUT_MULTIPLIER under the sanitizers. */
static inline int wt_run(const char *name, double timeout, const TTest *const *tests)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    for (; *tests; tests++)
        tcase_add_test(tc, *tests);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define WT_MAIN(name, timeout, ...)                                                     \
    int main(void)                                                                      \
    {                                                                                   \
        const TTest *const wt_tests_[] = {__VA_ARGS__, NULL};                           \
        return wt_run(name, timeout, wt_tests_);                                        \
    }

#endif
