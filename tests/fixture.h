/*
 * fixture: writes small synthetic datasets in the real IDX format (gzipped), so tests
 * exercise the real loader. Class c lights a distinct block of pixels, plus noise: a
 * linearly separable problem.
 */
#ifndef SYNSWEEP_FIXTURE_H
#define SYNSWEEP_FIXTURE_H

#include <stdint.h>

/** Writes one IDX image file and its label file (gzip when gz). @return 0 or -1. */
int fixture_write_idx(const char *images, const char *labels, const uint8_t *x, const uint8_t *y,
                      int n, int h, int w, int gz);
/**
 * Writes DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz with n_train and n_test
 * images of side x side pixels, drawn from seed. Creates the directories. @return 0 or -1.
 */
int fixture_make_mnist(const char *dir, int n_train, int n_test, int side, uint64_t seed);

#endif
