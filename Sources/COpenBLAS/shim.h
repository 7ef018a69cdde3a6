// OpenBLAS's CBLAS interface (with its openblas_* threading controls) and LAPACKE, the C
// interface to the LAPACK that Debian's OpenBLAS carries. LAPACKE comes from liblapacke-dev.
#ifndef SPECTRAIN_COPENBLAS_SHIM_H
#define SPECTRAIN_COPENBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
