#include "dist.h"

#include <math.h>
#include <string.h>

int dist_fill(const char *name, double scale, float *w, int O, int I, Rng *r) {
    size_t n = (size_t)O * I;
    if (strcmp(name, "uniform") == 0) {
        for (size_t i = 0; i < n; i++) w[i] = (float)(scale * (2.0 * rng_uniform(r) - 1.0));
        return 0;
    }
    double std;
    if (strcmp(name, "normal") == 0) std = 1.0;
    else if (strcmp(name, "kaiming") == 0) std = sqrt(2.0 / I);
    else if (strcmp(name, "xavier") == 0) std = sqrt(2.0 / (I + O));
    else return -1;
    for (size_t i = 0; i < n; i++) w[i] = (float)(scale * std * rng_normal(r));
    return 0;
}
