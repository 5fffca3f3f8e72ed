/*
 * What weft's benchmark servers share: listen on 127.0.0.1 (one socket per
 * loop with SO_REUSEPORT when --loops N asks for more than one), print
 * "port P", and run a coroutine per connection on each loop until killed.
 */
#ifndef WEFT_BENCH_SERVE_H
#define WEFT_BENCH_SERVE_H

#include <stddef.h>

#include "weft.h"

/* argv may hold "--loops N" and "--stack BYTES"; conn(sock, NULL) serves
 * one connection and closes it. Returns the exit status. */
int bench_serve(int argc, char **argv, const char *name, weft_task_fn conn, size_t stack);

#endif
