/*
 * Function references across address layouts. See internal/fnref.h.
 *
 * dl_iterate_phdr lists the loaded objects; the program itself comes first
 * and has an empty name. An object contains fn when one of its PT_LOAD
 * segments does.
 */
#include <link.h>
#include <stdbool.h>
#include <string.h>

#include "internal/fnref.h"
#include "weft/common.h"

struct find {
    uintptr_t addr;
    const char *name; /* resolve: the wanted object */
    bool first;       /* the next object visited is the program */
    bool found;
    uintptr_t base;
    char object[WEFT__FNREF_NAME];
    bool too_long;
};

static bool contains(const struct dl_phdr_info *info, uintptr_t addr)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && addr >= lo && addr < lo + ph->p_memsz)
            return true;
    }
    return false;
}

static int find_by_addr(struct dl_phdr_info *info, size_t size, void *data)
{
    struct find *f = data;
    bool program = f->first;
    f->first = false;
    if (!contains(info, f->addr))
        return 0;
    const char *name = program ? "" : info->dlpi_name;
    if (strlen(name) >= sizeof f->object) {
        f->too_long = true;
        return 1;
    }
    strcpy(f->object, name);
    f->base = info->dlpi_addr;
    f->found = true;
    return 1;
}

static int find_by_name(struct dl_phdr_info *info, size_t size, void *data)
{
    struct find *f = data;
    bool program = f->first;
    f->first = false;
    const char *name = program ? "" : info->dlpi_name;
    if (strcmp(name, f->name) != 0)
        return 0;
    f->base = info->dlpi_addr;
    f->found = true;
    return 1;
}

int weft__fnref_make(weft__fnref *ref, weft__fnptr fn)
{
    if (!ref || !fn)
        return WEFT_EINVAL;
    struct find f = {.addr = (uintptr_t)fn, .first = true};
    dl_iterate_phdr(find_by_addr, &f);
    if (!f.found)
        return WEFT_ENOTSUP;
    memset(ref, 0, sizeof *ref);
    ref->offset = (uint64_t)((uintptr_t)fn - f.base);
    strcpy(ref->object, f.object);
    return 0;
}

weft__fnptr weft__fnref_resolve(const weft__fnref *ref)
{
    if (!ref || memchr(ref->object, 0, sizeof ref->object) == NULL)
        return NULL;
    struct find f = {.name = ref->object, .first = true};
    dl_iterate_phdr(find_by_name, &f);
    if (!f.found)
        return NULL;
    return (weft__fnptr)(f.base + (uintptr_t)ref->offset);
}
