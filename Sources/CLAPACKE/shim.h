// LAPACKE, the C interface to LAPACK. Debian routes liblapack.so.3 to OpenBLAS's
// optimised LAPACK, so these calls run on the same threads as the BLAS.
#include <lapacke.h>
