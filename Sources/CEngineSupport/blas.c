#define _GNU_SOURCE
#include "engine_support.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

static void *sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }

const char *repro_blas_corename(void) {
    char *(*f)(void) = (char *(*)(void))sym("openblas_get_corename");
    return f ? f() : NULL;
}

const char *repro_blas_config(void) {
    char *(*f)(void) = (char *(*)(void))sym("openblas_get_config");
    return f ? f() : NULL;
}

const char *repro_blas_library(void) {
    void *f = sym("cblas_sgemm");
    Dl_info info;
    if (!f || !dladdr(f, &info)) return NULL;
    return info.dli_fname;
}

int repro_blas_can_reselect(void) {
    return sym("gotoblas_dynamic_quit") && sym("gotoblas_dynamic_init") && sym("openblas_get_corename");
}

int repro_blas_reselect(const char *core) {
    void (*quit)(void) = (void (*)(void))sym("gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))sym("gotoblas_dynamic_init");
    if (!quit || !init) return 0;
    const char *was = getenv("OPENBLAS_CORETYPE");
    char *saved = was ? strdup(was) : NULL;
    setenv("OPENBLAS_CORETYPE", core, 1);
    quit();
    init();
    if (saved) { setenv("OPENBLAS_CORETYPE", saved, 1); free(saved); } else unsetenv("OPENBLAS_CORETYPE");
    return 1;
}
