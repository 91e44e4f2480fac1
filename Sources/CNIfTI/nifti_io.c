#include "repro_nifti.h"
#include <nifti2_io.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void copy_matrix(nifti_dmat44 m, double *out) {
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) out[r * 4 + c] = m.m[r][c];
}

int repro_nifti_read(const char *path, repro_nifti_volume *out, char *error, int error_length) {
    memset(out, 0, sizeof *out);
    if (access(path, R_OK) != 0) {
        snprintf(error, error_length, "the file is missing or not readable");
        return 1;
    }
    nifti_set_debug_level(0);  // the library's own messages would repeat ours on stderr
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim) {
        snprintf(error, error_length, "not a NIfTI-1/2 file (its header is corrupt, or it is not .nii/.nii.gz)");
        return 1;
    }
    int64_t expected = (int64_t)nim->nvox * nim->nbyper;
    if (nifti_image_load(nim) < 0 || !nim->data) {
        snprintf(error, error_length, "truncated or corrupt: its header promises %lld voxels (%lld bytes) that cannot be read",
                 (long long)nim->nvox, (long long)expected);
        nifti_image_free(nim);
        return 1;
    }
    out->ndim = (int)nim->ndim;
    for (int i = 0; i < 8; i++) { out->dim[i] = nim->dim[i]; out->pixdim[i] = fabs(nim->pixdim[i]); }
    out->datatype = nim->datatype;
    out->scl_slope = nim->scl_slope;
    out->scl_inter = nim->scl_inter;
    out->qform_code = nim->qform_code;
    out->sform_code = nim->sform_code;
    copy_matrix(nim->qto_xyz, out->qform);
    copy_matrix(nim->sto_xyz, out->sform);
    out->nvox = nim->nvox;
    out->data = malloc(sizeof(float) * (size_t)(nim->nvox > 0 ? nim->nvox : 1));
    int scale = nim->scl_slope != 0 && !isnan(nim->scl_slope);
    double slope = scale ? nim->scl_slope : 1, inter = scale ? nim->scl_inter : 0;
    int64_t n = nim->nvox;
    switch (nim->datatype) {
#define CONVERT(T) { const T *p = (const T *)nim->data; for (int64_t i = 0; i < n; i++) out->data[i] = (float)(p[i] * slope + inter); } break;
        case NIFTI_TYPE_UINT8: CONVERT(uint8_t)
        case NIFTI_TYPE_INT8: CONVERT(int8_t)
        case NIFTI_TYPE_INT16: CONVERT(int16_t)
        case NIFTI_TYPE_UINT16: CONVERT(uint16_t)
        case NIFTI_TYPE_INT32: CONVERT(int32_t)
        case NIFTI_TYPE_UINT32: CONVERT(uint32_t)
        case NIFTI_TYPE_FLOAT32: CONVERT(float)
        case NIFTI_TYPE_FLOAT64: CONVERT(double)
#undef CONVERT
        default:
            snprintf(error, error_length, "data type %s, which the suite does not read (uint8, int8, int16, uint16, int32, uint32, float32, float64)",
                     nifti_datatype_string(nim->datatype));
            free(out->data);
            out->data = NULL;
            nifti_image_free(nim);
            return 1;
    }
    nifti_image_free(nim);
    return 0;
}

void repro_nifti_free(repro_nifti_volume *volume) {
    free(volume->data);
    volume->data = NULL;
}

int repro_nifti_write(const char *path, int ndim, const int64_t *dims, const double *spacing, const double *affine,
                      int datatype, const float *data, char *error, int error_length) {
    int64_t d[8] = {ndim, 1, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < ndim && i < 7; i++) d[i + 1] = dims[i];
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_make_new_nim(d, datatype, 1);
    if (!nim) {
        snprintf(error, error_length, "cannot make a NIfTI image of data type %d", datatype);
        return 1;
    }
    for (int i = 0; i < 3 && i < ndim; i++) nim->pixdim[i + 1] = spacing[i];
    nim->dx = nim->pixdim[1]; nim->dy = nim->pixdim[2]; nim->dz = nim->pixdim[3];
    nifti_dmat44 m;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) m.m[r][c] = affine[r * 4 + c];
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->sto_xyz = m;
    nim->sto_ijk = nifti_dmat44_inverse(m);
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    double dx, dy, dz;
    nifti_dmat44_to_quatern(m, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x, &nim->qoffset_y,
                            &nim->qoffset_z, &dx, &dy, &dz, &nim->qfac);
    nim->qto_xyz = m;
    nim->qto_ijk = nim->sto_ijk;
    int64_t n = nim->nvox;
    switch (datatype) {
#define FILL(T, ROUND) { T *p = (T *)nim->data; for (int64_t i = 0; i < n; i++) p[i] = (T)(ROUND); } break;
        case NIFTI_TYPE_UINT8: FILL(uint8_t, lrintf(data[i]))
        case NIFTI_TYPE_INT16: FILL(int16_t, lrintf(data[i]))
        case NIFTI_TYPE_INT32: FILL(int32_t, lrintf(data[i]))
        case NIFTI_TYPE_FLOAT32: FILL(float, data[i])
#undef FILL
        default:
            snprintf(error, error_length, "cannot write data type %d (uint8, int16, int32 or float32)", datatype);
            nifti_image_free(nim);
            return 1;
    }
    if (nifti_set_filenames(nim, path, 0, 1) != 0) {
        snprintf(error, error_length, "not a NIfTI file name (.nii or .nii.gz)");
        nifti_image_free(nim);
        return 1;
    }
    nifti_image_write(nim);
    nifti_image_free(nim);
    if (access(path, R_OK) != 0) {
        snprintf(error, error_length, "writing failed (is the folder writable?)");
        return 1;
    }
    return 0;
}
