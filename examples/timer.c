/*
 * timer.c - run a function later, or cancel it first (threading.Timer):
 *
 *   def hello():
 *       print("hello, world")
 *   t = threading.Timer(0.01, hello)   # the docs' example uses 30 s
 *   t.start()                          # after 10 ms, "hello, world"
 *   t.join()
 *   u = threading.Timer(10.0, hello)
 *   u.start()
 *   u.cancel()                         # stops it: hello never runs
 *
 * A Timer is a thread that waits out the interval and then calls the
 * function, unless cancel() came first.
 */
#include <stdio.h>

#include "check.h"

static void hello(void *arg)
{
    printf("hello, world (%s)\n", (const char *)arg);
}

int main(void)
{
    weft_timer *t, *u;
    double start = weft_monotonic();

    CHECK(weft_timer_new(&t, 0.010, hello, "fired after 10 ms", NULL));
    CHECK(weft_timer_start(t));
    CHECK(weft_timer_join(t, WEFT_FOREVER));
    printf("first timer: fired %s after %s10 ms\n", weft_timer_fired(t) ? "yes" : "no",
           weft_monotonic() - start >= 0.010 ? ">= " : "< ");

    CHECK(weft_timer_new(&u, 10.0, hello, "should not run", NULL));
    CHECK(weft_timer_start(u));
    if (!weft_timer_cancel(u)) /* long before its 10 s are up */
        return 1;
    CHECK(weft_timer_join(u, WEFT_FOREVER));
    printf("second timer: cancelled, fired %s\n", weft_timer_fired(u) ? "yes" : "no");

    weft_timer_free(t);
    weft_timer_free(u);
    return 0;
}

/* Output:
 * expect: ^hello, world \(fired after 10 ms\)$
 * expect: ^first timer: fired yes after >= 10 ms$
 * expect: ^second timer: cancelled, fired no$
 */
