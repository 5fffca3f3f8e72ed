/* threading.local over a pthread key. */
#include <pthread.h>
#include <stdlib.h>

#include "weft/thread.h"

struct weft_local {
    pthread_key_t key;
};

int weft_local_new(weft_local **out, void (*destructor)(void *))
{
    if (!out)
        return WEFT_EINVAL;
    weft_local *l = malloc(sizeof *l);
    if (!l)
        return WEFT_ENOMEM;
    int err = pthread_key_create(&l->key, destructor);
    if (err) {
        free(l);
        return err == ENOMEM ? WEFT_ENOMEM : WEFT_EAGAIN; /* EAGAIN: no keys left */
    }
    *out = l;
    return 0;
}

void *weft_local_get(const weft_local *l)
{
    return l ? pthread_getspecific(l->key) : NULL;
}

int weft_local_set(weft_local *l, void *value)
{
    if (!l)
        return WEFT_EINVAL;
    return pthread_setspecific(l->key, value) ? WEFT_ENOMEM : 0;
}

void weft_local_free(weft_local *l)
{
    if (!l)
        return;
    pthread_key_delete(l->key);
    free(l);
}
