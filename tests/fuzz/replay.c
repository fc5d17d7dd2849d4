/*
 * replay DIR...: runs a libFuzzer target's LLVMFuzzerTestOneInput on every regular file in
 * the directories given (its corpus), once each, without libFuzzer. Linked with each target
 * by the ordinary build (gcc), so every input the fuzzers found worth keeping (crashes that
 * were fixed among them) is a regression test of the suite (ctest -L fuzz), under the
 * sanitizers too (scripts/test-sanitize.sh). scripts/fuzz.sh still does the fuzzing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads path whole into a malloc'ed buffer (*n bytes). NULL on error. */
static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1)))
        *n = fread(buf, 1, (size_t)sb.st_size, f);
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    int runs = 0, unreadable = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "replay: cannot open %s\n", argv[a]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            char path[4096];
            struct stat sb;
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            if (stat(path, &sb) || !S_ISREG(sb.st_mode)) continue;
            size_t n = 0;
            uint8_t *buf = slurp(path, &n);
            if (!buf) {
                unreadable++;
                continue;
            }
            LLVMFuzzerTestOneInput(buf, n); /* a crash, a sanitizer report or a hang fails the test */
            free(buf);
            runs++;
        }
        closedir(d);
    }
    printf("replay: %d passed, %d failed\n", runs, unreadable);
    return unreadable != 0 || runs == 0;
}
