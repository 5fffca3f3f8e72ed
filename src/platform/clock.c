/* Time: the monotonic clock. Sleeping is above park, in sleep.c. */
#include "internal/clock.h"

double weft_monotonic(void)
{
    return (double)weft__now_ns() / 1e9;
}
