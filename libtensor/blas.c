/* The one place that talks to OpenBLAS's thread control. Kernels call cblas_* directly and
 * never change the thread count behind the context's back (two pools fighting over two
 * cores make small batches erratic). */
#include <cblas.h>

#include "internal.h"

void ti__blas_set_threads(int threads)
{
    openblas_set_num_threads(threads);
}
