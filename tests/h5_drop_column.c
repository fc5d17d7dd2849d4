/* h5_drop_column FILE COLUMN: rewrites FILE's /results without COLUMN (the other columns and
 * every value kept), as a user would with h5py. For the robustness catalogue (test_robust.sh). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = f < 0 ? -1 : H5Dopen2(f, "results", H5P_DEFAULT);
    if (d < 0) return 1;
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    int nm = H5Tget_nmembers(ft);
    size_t size = 0;
    for (int i = 0; i < nm; i++) {
        char *name = H5Tget_member_name(ft, (unsigned)i);
        hid_t mt = H5Tget_member_type(ft, (unsigned)i);
        if (strcmp(name, argv[2])) size += H5Tget_size(mt);
        H5Tclose(mt), H5free_memory(name);
    }
    hid_t nt = H5Tcreate(H5T_COMPOUND, size);
    size_t off = 0;
    for (int i = 0; i < nm; i++) {
        char *name = H5Tget_member_name(ft, (unsigned)i);
        hid_t mt = H5Tget_member_type(ft, (unsigned)i);
        if (strcmp(name, argv[2])) H5Tinsert(nt, name, off, mt), off += H5Tget_size(mt);
        H5Tclose(mt), H5free_memory(name);
    }
    char *buf = malloc((size_t)n * size + 1);
    if (!buf || H5Dread(d, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) return 1;
    H5Dclose(d);
    H5Ldelete(f, "results", H5P_DEFAULT);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp1 = H5Screate_simple(1, dims, NULL); /* contiguous, as h5py writes it */
    hid_t nd = H5Dcreate2(f, "results", nt, sp1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (nd < 0 || H5Dwrite(nd, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) return 1;
    H5Dclose(nd), H5Tclose(nt), H5Tclose(ft), H5Sclose(sp), H5Sclose(sp1), H5Fclose(f);
    free(buf);
    return 0;
}
