/*
 * Function pointers that cross into processes with another address layout.
 *
 * A forkserver child runs the same program, but loaded at other addresses
 * (ASLR), so a function pointer from the parent means nothing there. A
 * reference names the loaded object that holds the function (the program
 * itself, or a shared library by the path it was loaded from) and the
 * function's offset from that object's load address; the child finds the
 * same object and adds its own load address. A fork child has the same
 * layout and resolves a reference to the very same pointer.
 */
#ifndef WEFT_INTERNAL_FNREF_H
#define WEFT_INTERNAL_FNREF_H

#include <stdint.h>

#define WEFT__FNREF_NAME 240

typedef struct weft__fnref {
    uint64_t offset;
    char object[WEFT__FNREF_NAME]; /* "" for the program itself */
} weft__fnref;

typedef void (*weft__fnptr)(void);

/* 0, or WEFT_EINVAL for NULL, WEFT_ENOTSUP when fn lies in no loaded
 * object or the object's path is too long to name. */
int weft__fnref_make(weft__fnref *ref, weft__fnptr fn);
/* The function in this process, or NULL when its object is not loaded
 * here (a library the parent dlopen'ed later). */
weft__fnptr weft__fnref_resolve(const weft__fnref *ref);

#endif
