/*
 * Thread-local variables on hot paths (the running task, the parker, the
 * running loop, the caches of stacks and futures) are initial-exec: a read
 * is one %fs-relative load in the shared library too, where the
 * general-dynamic model that -fPIC implies would make each a call to
 * __tls_get_addr (a tenth of a coroutine hand-off). The price is a few
 * bytes of static TLS, which a dlopen of libweft takes from glibc's surplus.
 */
#ifndef WEFT_INTERNAL_TLS_H
#define WEFT_INTERNAL_TLS_H

#define WEFT__TLS_IE __attribute__((tls_model("initial-exec")))

#endif
