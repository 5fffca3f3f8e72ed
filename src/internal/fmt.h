/*
 * Number formatting without stdio: for a signal handler (async-signal-safe:
 * no locale, no allocation) and for hot paths where snprintf's format
 * parsing would cost more than the work around it (a task's automatic name).
 * Neither writes a terminating NUL; both return the characters written.
 */
#ifndef WEFT_INTERNAL_FMT_H
#define WEFT_INTERNAL_FMT_H

#include <stddef.h>
#include <stdint.h>

/* v in decimal: at most 20 characters. */
static inline size_t weft__fmt_dec(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* v in hexadecimal with a 0x prefix: at most 18 characters. */
static inline size_t weft__fmt_hex(char *p, uintptr_t v)
{
    char tmp[2 * sizeof v];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    p[0] = '0';
    p[1] = 'x';
    for (size_t i = 0; i < n; i++)
        p[2 + i] = tmp[n - 1 - i];
    return n + 2;
}

#endif
