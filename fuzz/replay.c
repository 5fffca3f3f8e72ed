/*
 * Replays a fuzz driver's corpus: fuzz_replay DRIVER PATH... runs the named
 * driver (fuzz/fuzz.h) once on every file given, and on every file of every
 * folder given, in name order. It exits non-zero, naming the inputs, if
 * any run failed; `make test` runs it over fuzz/corpus/<driver>/.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const fz_driver *d, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    int rc = d->run(buf, len);
    free(buf);
    if (rc)
        fprintf(stderr, "FAILED: %s on %s\n", d->name, path);
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const fz_driver *d, const char *path, unsigned *count)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        ++*count;
        return replay_file(d, path);
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name);
    if (n < 0) {
        perror(path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            size_t len = strlen(path) + strlen(names[i]->d_name) + 2;
            char *file = malloc(len);
            if (!file) {
                rc = -1;
            } else {
                snprintf(file, len, "%s/%s", path, names[i]->d_name);
                ++*count;
                if (replay_file(d, file))
                    rc = -1;
                free(file);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DRIVER PATH...\n", argv[0]);
        return 2;
    }
    const fz_driver *d = fz_drivers;
    while (d->name && strcmp(d->name, argv[1]) != 0)
        d++;
    if (!d->name) {
        fprintf(stderr, "%s: no driver named %s\n", argv[0], argv[1]);
        return 2;
    }
    unsigned count = 0;
    int rc = 0;
    for (int i = 2; i < argc; i++)
        if (replay_path(d, argv[i], &count))
            rc = 1;
    printf("%s: %u inputs replayed, %s\n", d->name, count, rc ? "some FAILED" : "all passed");
    return rc;
}
