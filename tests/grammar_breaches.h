/* Declarations that break the grammar on purpose: check_grammar.py must
 * report each (tests/CMakeLists.txt expects it to fail on this file). */
#define NOT_PREFIXED 1
typedef int plain_int;
WEFT_API int weft_thing_free(weft_thing *t);
WEFT_API void weft_thing_close(weft_thing *t);
WEFT_API int weft_thing_cancel(weft_thing *t);
WEFT_API int weft_thing_cancel_later(weft_thing *t, double delay);
WEFT_API int weft_thing_acquire(weft_thing *t);
WEFT_API int weft_thing_acquire_timeout(weft_thing *t, double timeout);
WEFT_API int weft_thing_get(weft_thing *t, double timeout, void **out);
WEFT_API size_t weft_thing_len(weft_thing *t);
WEFT_API int weft_thing_pid(const weft_thing *t);
