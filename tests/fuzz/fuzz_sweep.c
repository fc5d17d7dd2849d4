/* libFuzzer target: the sweep YAML loader on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Sweep sw;
    char err[1024];
    if (sweep_load_text((const char *)data, size, "fuzz.yaml", "/nonexistent", &sw, err, sizeof err) == 0)
        sweep_free(&sw);
    return 0;
}
