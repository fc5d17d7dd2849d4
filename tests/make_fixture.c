/* make_fixture DIR [N_TRAIN N_TEST SIDE]: writes a synthetic MNIST-format dataset under DIR. */
#include <stdio.h>
#include <stdlib.h>

#include "fixture.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: make_fixture DIR [N_TRAIN N_TEST SIDE]\n");
        return 2;
    }
    int ntr = argc > 2 ? atoi(argv[2]) : 400, nte = argc > 3 ? atoi(argv[3]) : 200;
    int side = argc > 4 ? atoi(argv[4]) : 12;
    if (fixture_make_mnist(argv[1], ntr, nte, side, 1)) {
        fprintf(stderr, "make_fixture: cannot write under %s\n", argv[1]);
        return 1;
    }
    return 0;
}
