/*
 * Deadlines inside, timeouts outside: public calls take a double timeout in
 * seconds; the first thing a blocking call does (after its non-blocking fast
 * path) is turn it into an absolute deadline in nanoseconds on
 * CLOCK_MONOTONIC, and everything below works with deadlines.
 */
#ifndef WEFT_INTERNAL_CLOCK_H
#define WEFT_INTERNAL_CLOCK_H

#include <stdint.h>
#include <time.h>

#include "weft/common.h"

/* A deadline that never comes. */
#define WEFT__NO_DEADLINE INT64_MAX

static inline int64_t weft__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* 0 if `timeout` is a valid timeout (WEFT_FOREVER, +inf, or >= 0), else
 * WEFT_EINVAL. NaN fails both comparisons and so is rejected. */
static inline int weft__timeout_valid(double timeout)
{
    if (timeout >= 0 || timeout == WEFT_FOREVER)
        return 0;
    return WEFT_EINVAL;
}

/* The absolute deadline for a valid timeout; saturates instead of wrapping
 * for huge values. */
static inline int64_t weft__deadline(double timeout)
{
    if (timeout == WEFT_FOREVER || timeout >= 9.0e9) /* ~285 years */
        return WEFT__NO_DEADLINE;
    int64_t now = weft__now_ns(), ns = (int64_t)(timeout * 1e9);
    /* On a machine up for years, now + ns could still pass INT64_MAX. */
    return ns >= WEFT__NO_DEADLINE - now ? WEFT__NO_DEADLINE - 1 : now + ns;
}

/* The inverse, for passing a deadline on to a call that takes a timeout:
 * the seconds left (0 once past), WEFT_FOREVER for no deadline. */
static inline double weft__remaining(int64_t deadline)
{
    if (deadline == WEFT__NO_DEADLINE)
        return WEFT_FOREVER;
    int64_t left = deadline - weft__now_ns();
    return left > 0 ? (double)left * 1e-9 : 0.0;
}

static inline struct timespec weft__ns_to_timespec(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

#endif
