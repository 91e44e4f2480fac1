#include <cblas.h>
// Set the number of OpenBLAS threads at run time (declared by openblas_config.h).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
