/* The error table, timeouts and the clock. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "wt.h"

START_TEST(errors_have_names_and_messages)
{
    static const int codes[] = {
#define WT_CODE(name, value, msg) WEFT_##name,
        WEFT_ERRNO_MAP(WT_CODE)
#undef WT_CODE
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        ck_assert_int_lt(codes[i], 0);
        ck_assert_str_ne(weft_err_name(codes[i]), "UNKNOWN");
        ck_assert_str_ne(weft_strerror(codes[i]), "unknown error");
        for (size_t j = 0; j < i; j++)
            ck_assert_int_ne(codes[i], codes[j]); /* the table has no duplicates */
    }
    ck_assert_str_eq(weft_err_name(WEFT_ETIMEDOUT), "ETIMEDOUT");
    ck_assert_int_eq(WEFT_EINVAL, -EINVAL);
    ck_assert_str_eq(weft_err_name(0), "OK");
    ck_assert_str_eq(weft_strerror(0), "success");
    /* Other negated errno values get the system's text; garbage is "unknown". */
    ck_assert_str_ne(weft_strerror(-ECONNRESET), "unknown error");
    ck_assert_str_eq(weft_strerror(12345), "unknown error");
    ck_assert_str_eq(weft_strerror(-99999), "unknown error");
    ck_assert_str_eq(weft_err_name(-99999), "UNKNOWN");
}
END_TEST

/* Every errno a system call can give weft has a name once it is a code:
 * its own where the table has it, else WEFT_EIO. */
START_TEST(errno_codes_have_names)
{
    for (int e = 1; e < 134; e++) {
        int code = weft__errno_code(e);
        ck_assert_int_lt(code, 0);
        ck_assert_msg(strcmp(weft_err_name(code), "UNKNOWN") != 0, "errno %d", e);
    }
    ck_assert_int_eq(weft__errno_code(ECONNRESET), WEFT_ECONNRESET);
    ck_assert_int_eq(weft__errno_code(EADDRINUSE), WEFT_EADDRINUSE);
    ck_assert_int_eq(weft__errno_code(EHWPOISON), WEFT_EIO);
    ck_assert_int_eq(weft__errno_code(0), WEFT_EIO);
    ck_assert_str_eq(weft_strerror(WEFT_ELOOP), "too many redirects or levels of links");
}
END_TEST

/* The library says its own version, the one its headers were cut with. */
START_TEST(version)
{
    ck_assert_uint_eq(weft_version(), WEFT_VERSION_HEX);
    ck_assert_str_eq(weft_version_string(), WEFT_VERSION_STRING);
    ck_assert_uint_eq(WEFT_VERSION_HEX >> 16, WEFT_VERSION_MAJOR);
    ck_assert_uint_eq((WEFT_VERSION_HEX >> 8) & 0xff, WEFT_VERSION_MINOR);
    ck_assert_uint_eq(WEFT_VERSION_HEX & 0xff, WEFT_VERSION_PATCH);
}
END_TEST

START_TEST(timeouts_validated)
{
    WT_OK(weft__timeout_valid(0));
    WT_OK(weft__timeout_valid(1.5));
    WT_OK(weft__timeout_valid(WEFT_FOREVER));
    WT_OK(weft__timeout_valid(INFINITY));
    WT_ERR(weft__timeout_valid(-0.5), WEFT_EINVAL);
    WT_ERR(weft__timeout_valid(-INFINITY), WEFT_EINVAL);
    WT_ERR(weft__timeout_valid(NAN), WEFT_EINVAL);
    ck_assert(weft__deadline(WEFT_FOREVER) == WEFT__NO_DEADLINE);
    ck_assert(weft__deadline(INFINITY) == WEFT__NO_DEADLINE);
    ck_assert(weft__deadline(1e300) == WEFT__NO_DEADLINE); /* saturates, no overflow */
    int64_t now = weft__now_ns();
    int64_t d = weft__deadline(0.5);
    ck_assert(d >= now + 500000000 && d < now + 600000000);
}
END_TEST

START_TEST(sleep_and_clock)
{
    double t0 = weft_monotonic();
    WT_OK(weft_sleep(0.01));
    double t1 = weft_monotonic();
    ck_assert_msg(t1 - t0 >= 0.01, "slept %.4f s", t1 - t0);
    WT_OK(weft_sleep(0));
    WT_ERR(weft_sleep(-1), WEFT_EINVAL);
    WT_ERR(weft_sleep(NAN), WEFT_EINVAL);
    WT_ERR(weft_sleep(WEFT_FOREVER), WEFT_EINVAL); /* negative: a duration, not a timeout */
    WT_ERR(weft_sleep(-INFINITY), WEFT_EINVAL);
    ck_assert_str_eq(weft_wait_kind_name(WEFT_WAIT_LOCK), "lock");
    ck_assert_str_eq(weft_wait_kind_name((weft_wait_kind)999), "unknown");
}
END_TEST

static void *sleep_for(void *arg)
{
    return (void *)(intptr_t)weft_sleep(*(double *)arg);
}

/* +inf and values past the clock's range sleep without end, as the same
 * values wait without end as a timeout; before, they were refused. */
START_TEST(sleep_without_end)
{
    static double forever[] = {INFINITY, 1e10, 9.3e9, 1e300};
    for (size_t i = 0; i < sizeof forever / sizeof *forever; i++) {
        weft_thread *t;
        WT_OK(weft_thread_new(&t, sleep_for, &forever[i],
                              &(weft_thread_opts){.daemon = WEFT_DAEMON_YES}));
        WT_OK(weft_thread_start(t));
        for (;;) {
            weft_thread_state st = weft_thread_get_state(t);
            if (st.status == WEFT_THREAD_FINISHED) {
                void *rc = NULL;
                WT_OK(weft_thread_result(t, &rc));
                ck_abort_msg("weft_sleep(%g) returned %d", forever[i], (int)(intptr_t)rc);
            }
            if (st.status == WEFT_THREAD_WAITING && st.waiting_on == WEFT_WAIT_SLEEP)
                break;
            sched_yield();
        }
        WT_ERR(weft_thread_join(t, 0.02), WEFT_ETIMEDOUT); /* still asleep */
        weft_thread_unref(t); /* a daemon: the process exits under it */
    }
}
END_TEST

WT_MAIN("common", 10, errors_have_names_and_messages, errno_codes_have_names, version, timeouts_validated, sleep_and_clock,
        sleep_without_end)
