// OpenBLAS's CBLAS interface. The include directory comes from pkg-config (openblas),
// so no path is written here.
#include <cblas.h>
