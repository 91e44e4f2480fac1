#include <cblas.h>
// Set the number of OpenBLAS threads at run time (declared by openblas_config.h).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
// glibc's mallopt, for the Engine's allocation tuning (Tensor.swift); Glibc's Swift module does not export malloc.h.
#include <malloc.h>
