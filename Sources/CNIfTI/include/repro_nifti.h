#ifndef REPRO_NIFTI_H
#define REPRO_NIFTI_H
// NIfTI-1 and NIfTI-2 volumes (.nii, .nii.gz) through niftilib, behind a small C interface that hands the voxels
// over as float and the header fields the suite needs.
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int ndim;                 // 1–7
    int64_t dim[8];           // dim[1..ndim]: x, y, z, t, ...; x varies fastest in `data`
    double pixdim[8];         // pixdim[1..3]: voxel size (absolute values)
    int datatype;             // NIFTI_TYPE_* of the file
    double scl_slope, scl_inter;
    int qform_code, sform_code;
    double qform[16], sform[16];  // row-major 4×4 voxel (i, j, k) → world (x, y, z) transforms
    int64_t nvox;
    float *data;              // nvox values, scl_slope/scl_inter applied when slope is neither 0 nor NaN
} repro_nifti_volume;

// Reads `path`. Returns 0, or 1 with the reason in `error` (without the path): missing, unreadable, truncated or
// corrupt files and unsupported data types.
int repro_nifti_read(const char *path, repro_nifti_volume *out, char *error, int error_length);
void repro_nifti_free(repro_nifti_volume *volume);

// Writes `path` (.nii or .nii.gz) with `datatype` (NIFTI_TYPE_UINT8, INT16, INT32 or FLOAT32), the sform and qform
// both set from `affine` (row-major 4×4) and pixdim from `spacing[0..2]`. Values are rounded for integer types.
// Returns 0, or 1 with a message in `error`.
int repro_nifti_write(const char *path, int ndim, const int64_t *dims, const double *spacing, const double *affine,
                      int datatype, const float *data, char *error, int error_length);

#ifdef __cplusplus
}
#endif
#endif
