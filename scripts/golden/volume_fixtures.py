"""Fixtures for the suite's NIfTI reader and its MONAI-conformant per-class metrics (Tests/DataTests/Fixtures).

    ~/.venvs/torch/bin/python scripts/golden/volume_fixtures.py

nifti/: small volumes written by nibabel in the data types and header variants the reader supports (int16 with
scl_slope/scl_inter and an LPS sform, uint8 labels with a qform only, int32, float32 .nii.gz), a truncated .nii.gz
and a file that is not NIfTI; nifti/expected.json holds what nibabel reads from each (shape, zooms, best affine,
axis codes, scaled values).

layouts/: tiny data sets in the on-disk layouts the loaders read (BTCV's Decathlon json, AMOS 2022, MMWHS, BRATS
as Decathlon Task01) and broken variants (a json naming a missing file, a label on another grid, a stray label
value); the tests state what each loader should find.

transforms.json: MONAI 1.6's Orientation(axcodes="RAS"), ScaleIntensityRange(-175, 250 → 0, 1, clip),
CropForeground(source = image > 0) and NormalizeIntensity(nonzero=True, channel_wise=True) on small volumes with
oblique-free but permuted and flipped affines; volumes stored x fastest with channels last, as the suite keeps them.

pipeline.json: UNETR's BTCV preprocessing as its utils/data_utils.py composes it (Orientationd RAS, Spacingd
1.5×1.5×2.0 bilinear/nearest, ScaleIntensityRanged −175..250 → 0..1 with clipping, CropForegroundd on the image)
on an image and label map stored L, P, S with air around the body, in the suite's layout (x fastest).

label_metrics.json: label maps with anisotropic spacing and MONAI 1.6's per-class DiceMetric(include_background=False,
ignore_empty=True) and compute_hausdorff_distance(percentile=95) on them. Arrays are stored flat in C order with
their shape and per-axis spacing; NaN and infinity are stored as null.
"""
import gzip
import json
import math
import os
import warnings

import nibabel as nib
import numpy as np
import torch
from monai.metrics import DiceMetric, compute_hausdorff_distance

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "DataTests", "Fixtures")


def number(v):
    v = float(v)
    return None if not math.isfinite(v) else float(f"{v:.9g}")


def nifti_fixtures():
    folder = os.path.join(OUT, "nifti")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(20261201)
    expected = {}

    def save(name, img):
        path = os.path.join(folder, name)
        nib.save(img, path)
        back = nib.load(path)
        data = np.asarray(back.get_fdata(dtype=np.float64))
        expected[name] = {
            "shape": list(data.shape),
            "spacing": [number(z) for z in back.header.get_zooms()[:3]],
            "affine": [number(v) for v in back.affine.reshape(-1)],
            "orientation": "".join(nib.aff2axcodes(back.affine)),
            # Fortran order: x varies fastest, as in the file.
            "values": [number(v) for v in data.reshape(-1, order="F")],
        }

    # CT-like int16 with scaling and an LPS sform (DICOM-derived volumes are stored so).
    ct = rng.integers(-1000, 1500, size=(5, 4, 3)).astype(np.int16)
    affine = np.array([[-0.8, 0, 0, 120.5], [0, -0.75, 0, 98.0], [0, 0, 2.5, -40.0], [0, 0, 0, 1]])
    img = nib.Nifti1Image(ct, affine)
    img.header.set_data_dtype(np.int16)
    img.header.set_slope_inter(0.5, -10.0)
    img.set_qform(None, code=0)
    img.set_sform(affine, code=1)
    save("ct_int16_scaled_lps.nii.gz", img)

    # A label map as uint8 with a qform only (sform code 0), RAS.
    labels = rng.integers(0, 4, size=(4, 3, 2)).astype(np.uint8)
    img = nib.Nifti1Image(labels, np.diag([1.5, 1.5, 2.0, 1]))
    img.set_sform(None, code=0)
    img.set_qform(np.diag([1.5, 1.5, 2.0, 1]), code=1)
    save("labels_uint8_qform.nii", img)

    # int32 labels and float32 intensities with a rotated sform.
    save("labels_int32.nii", nib.Nifti1Image(rng.integers(0, 14, size=(3, 3, 3)).astype(np.int32), np.eye(4)))
    theta = 0.3
    rot = np.array([[math.cos(theta), -math.sin(theta), 0, 1], [math.sin(theta), math.cos(theta), 0, 2], [0, 0, 3, 3], [0, 0, 0, 1]])
    save("mri_float32_rotated.nii.gz", nib.Nifti1Image(rng.normal(size=(4, 2, 3)).astype(np.float32), rot))

    # Broken files: a .nii.gz cut after its header, and text named .nii.
    whole = gzip.open(os.path.join(folder, "ct_int16_scaled_lps.nii.gz")).read()
    with open(os.path.join(folder, "truncated.nii.gz"), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(whole[:352 + 20])   # mtime 0: the same bytes on every run
    with open(os.path.join(folder, "not_nifti.nii"), "w") as f:
        f.write("this is not a NIfTI file\n" * 20)

    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
    print(f"wrote {len(expected)} volumes and 2 broken files to {folder}")


def blob(shape, center, radii):
    grid = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii)) <= 1


def metric_cases():
    rng = np.random.default_rng(7)
    cases = {}

    def add(name, pred, truth, spacing, classes):
        n = max(classes) + 1
        onehot = lambda a: torch.nn.functional.one_hot(torch.as_tensor(a, dtype=torch.long), n).movedim(-1, 0)[None]
        p, t = onehot(pred), onehot(truth)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dice = DiceMetric(include_background=False, reduction="none", ignore_empty=True)(p, t)[0]
            hd = compute_hausdorff_distance(p, t, include_background=False, percentile=95, spacing=list(spacing))[0]
        cases[name] = {
            "shape": list(truth.shape), "spacing": list(spacing), "classes": classes,
            "prediction": [int(v) for v in pred.reshape(-1)], "truth": [int(v) for v in truth.reshape(-1)],
            "dice": {str(c): number(dice[c - 1]) for c in classes},
            "hd95": {str(c): number(hd[c - 1]) for c in classes},
        }

    shape = (18, 14, 10)
    truth = np.zeros(shape, dtype=np.int64)
    truth[blob(shape, (6, 6, 4), (4, 3, 3))] = 1
    truth[blob(shape, (12, 8, 6), (3, 4, 2.5))] = 2
    truth[blob(shape, (15, 3, 2), (2, 2, 1.5))] = 3       # touches the volume's border
    pred = truth.copy()
    pred[blob(shape, (7, 6, 4), (4, 3.5, 3))] = 1          # shifted and larger
    pred[(pred == 2) & (rng.random(shape) < 0.2)] = 0      # holes
    pred[blob(shape, (2, 12, 8), (1.5, 1.5, 1))] = 2       # a distant false positive
    add("anisotropic_three_organs", pred, truth, (0.8, 1.2, 2.5), [1, 2, 3])

    pred2 = truth.copy()
    pred2[pred2 == 3] = 0                                  # organ 3 missed entirely: HD undefined
    truth2 = truth.copy()
    truth2[truth2 == 2] = 0                                # organ 2 absent from the truth: Dice undefined
    pred2[blob(shape, (12, 8, 6), (2, 2, 2))] = 2
    add("missed_and_absent", pred2, truth2, (1.5, 1.5, 2.0), [1, 2, 3])

    shape2 = (24, 20)
    t2 = np.zeros(shape2, dtype=np.int64)
    t2[blob(shape2, (10, 9), (6, 4))] = 1
    p2 = np.zeros(shape2, dtype=np.int64)
    p2[blob(shape2, (11, 10), (5, 5))] = 1
    add("two_d", p2, t2, (0.7, 1.3), [1])

    path = os.path.join(OUT, "label_metrics.json")
    with open(path, "w") as f:
        json.dump(cases, f, separators=(",", ":"))
    print(f"wrote {path} ({len(cases)} cases)")


def layout_fixtures():
    root = os.path.join(OUT, "layouts")
    rng = np.random.default_rng(11)
    shape, affine = (4, 3, 2), np.diag([1.5, 1.5, 2.0, 1.0])

    def vol(path, data, aff=affine):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        nib.save(nib.Nifti1Image(data, aff), path)

    def ct():
        return rng.integers(-1000, 1000, size=shape).astype(np.int16)

    def labels(n):
        return rng.integers(0, n, size=shape).astype(np.uint8)

    # BTCV: dataset_0.json with training/validation dicts and test strings.
    b = os.path.join(root, "btcv")
    for i in (1, 2, 3):
        vol(f"{b}/imagesTr/img000{i}.nii.gz", ct())
        vol(f"{b}/labelsTr/label000{i}.nii.gz", labels(14))
    vol(f"{b}/imagesTs/img0061.nii.gz", ct())
    organs = ["background", "spleen", "rkid", "lkid", "gall", "eso", "liver", "sto", "aorta", "IVC", "veins", "pancreas", "rad", "lad"]
    json.dump({"name": "BTCV", "labels": {str(i): n for i, n in enumerate(organs)}, "modality": {"0": "CT"},
               "training": [{"image": f"imagesTr/img000{i}.nii.gz", "label": f"labelsTr/label000{i}.nii.gz"} for i in (1, 2)],
               "validation": [{"image": "imagesTr/img0003.nii.gz", "label": "labelsTr/label0003.nii.gz"}],
               "test": ["imagesTs/img0061.nii.gz"]}, open(f"{b}/dataset_0.json", "w"), indent=1)
    # The same with a missing file, a label on another grid, and a stray label value.
    json.dump({"training": [{"image": "imagesTr/img0001.nii.gz", "label": "labelsTr/label0009.nii.gz"}]},
              open(f"{b}/missing_file.json", "w"))
    vol(f"{b}/broken/label_grid.nii.gz", labels(14)[:, :, :1])
    vol(f"{b}/broken/label_stray.nii.gz", np.full(shape, 20, dtype=np.uint8))
    json.dump({"training": [{"image": "imagesTr/img0001.nii.gz", "label": "broken/label_grid.nii.gz"},
                            {"image": "imagesTr/img0002.nii.gz", "label": "broken/label_stray.nii.gz"}],
               "labels": {str(i): n for i, n in enumerate(organs)}}, open(f"{b}/broken.json", "w"))

    # AMOS: CT ids <= 500, MRI above; imagesTs without labels.
    a = os.path.join(root, "amos")
    for split, ids in (("Tr", (1, 507)), ("Va", (2,))):
        for i in ids:
            vol(f"{a}/images{split}/amos_{i:04d}.nii.gz", ct())
            vol(f"{a}/labels{split}/amos_{i:04d}.nii.gz", labels(14 if i > 500 else 16))
    vol(f"{a}/imagesTs/amos_0600.nii.gz", ct())

    # MMWHS: label values 205 ... 850.
    m = os.path.join(root, "mmwhs")
    values = np.array([0, 205, 420, 500, 550, 600, 820, 850], dtype=np.int16)
    for i in (1001, 1002):
        vol(f"{m}/mr_train_{i}_image.nii.gz", rng.normal(size=shape).astype(np.float32))
        vol(f"{m}/mr_train_{i}_label.nii.gz", values[rng.integers(0, 8, size=shape)])

    # BRATS as Decathlon Task01: 4D images with 4 modalities.
    r = os.path.join(root, "brats")
    vol(f"{r}/imagesTr/BRATS_001.nii.gz", rng.normal(size=shape + (4,)).astype(np.float32))
    vol(f"{r}/labelsTr/BRATS_001.nii.gz", labels(4))
    json.dump({"name": "BRATS", "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"},
               "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
               "training": [{"image": "imagesTr/BRATS_001.nii.gz", "label": "labelsTr/BRATS_001.nii.gz"}]},
              open(f"{r}/dataset.json", "w"), indent=1)
    print(f"wrote the layouts to {root}")


def transform_cases():
    from monai.data import MetaTensor
    from monai.transforms import CropForeground, NormalizeIntensity, Orientation, ScaleIntensityRange

    rng = np.random.default_rng(5)

    def ours(t):
        a = np.asarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t, dtype=np.float64)
        a = np.moveaxis(a, 0, -1)
        if a.shape[-1] == 1:
            a = a[..., 0]
        return {"shape": list(a.shape), "values": [number(v) for v in a.reshape(-1, order="F")]}

    def meta(a, affine):
        return MetaTensor(torch.as_tensor(a, dtype=torch.float32), affine=torch.as_tensor(affine, dtype=torch.float64))

    cases = {}
    permuted = np.array([[0, 0, -2.0, 10], [-1.5, 0, 0, 5], [0, 1.2, 0, -3], [0, 0, 0, 1]])  # voxel axes point P, S, L
    for name, channels in (("orient_psl", 1), ("orient_psl_two_channels", 2)):
        x = rng.normal(size=(channels, 4, 3, 5))
        y = Orientation(axcodes="RAS")(meta(x, permuted))
        cases[name] = {"transform": "orientRAS", "input": ours(x), "affine": [float(v) for v in permuted.reshape(-1)],
                       "output": ours(y), "output_affine": [float(v) for v in np.asarray(y.affine).reshape(-1)]}
    lps = np.diag([-0.8, -0.8, 2.5, 1.0])
    lps[:3, 3] = [20, 30, -10]
    x = rng.normal(size=(1, 3, 4, 2))
    y = Orientation(axcodes="RAS")(meta(x, lps))
    cases["orient_lps"] = {"transform": "orientRAS", "input": ours(x), "affine": [float(v) for v in lps.reshape(-1)],
                           "output": ours(y), "output_affine": [float(v) for v in np.asarray(y.affine).reshape(-1)]}

    ct = rng.integers(-1000, 1200, size=(1, 6, 5, 4)).astype(np.float32)
    ct[:, :2] = -1000          # air around the body, so that the foreground box is smaller than the volume
    ct[:, :, 4] = -1000
    scaled = ScaleIntensityRange(a_min=-175, a_max=250, b_min=0.0, b_max=1.0, clip=True)(torch.as_tensor(ct))
    cases["scale_ct"] = {"transform": "scaleIntensityRange", "input": ours(ct), "output": ours(scaled)}
    cropped = CropForeground()(meta(scaled.numpy(), np.diag([1.5, 1.5, 2.0, 1.0])))
    cases["crop_foreground"] = {"transform": "cropForeground", "input": ours(scaled), "affine": [float(v) for v in np.diag([1.5, 1.5, 2.0, 1.0]).reshape(-1)],
                                "output": ours(cropped), "output_affine": [float(v) for v in np.asarray(cropped.affine).reshape(-1)]}
    mri = rng.normal(loc=3, scale=2, size=(2, 4, 4, 3)).astype(np.float32)
    mri[:, 0] = 0
    mri[1, :, 0] = 0
    z = NormalizeIntensity(nonzero=True, channel_wise=True)(torch.as_tensor(mri))
    cases["zscore_nonzero"] = {"transform": "normalizeNonzeroChannelwise", "input": ours(mri), "output": ours(z)}

    from monai.transforms import Spacing
    for name, affine, shape, pixdim in (
        ("spacing_down", np.diag([0.8, 0.8, 2.5, 1.0]), (7, 6, 4), (1.5, 1.5, 2.0)),
        ("spacing_up_offset", np.array([[1.1, 0, 0, -20], [0, 0.9, 0, 14], [0, 0, 3.0, 5], [0, 0, 0, 1]]), (5, 4, 3), (0.6, 1.0, 1.2)),
    ):
        image = rng.normal(size=(1,) + shape).astype(np.float32)
        labels = rng.integers(0, 4, size=(1,) + shape).astype(np.float32)
        for kind, data, mode in (("linear", image, "bilinear"), ("nearest", labels, "nearest")):
            y = Spacing(pixdim=pixdim, mode=mode)(meta(data, affine))
            cases[f"{name}_{kind}"] = {"transform": "resample", "interpolation": kind, "spacing": list(pixdim),
                                       "input": ours(data), "affine": [float(v) for v in affine.reshape(-1)],
                                       "output": ours(y), "output_affine": [float(v) for v in np.asarray(y.affine).reshape(-1)]}

    path = os.path.join(OUT, "transforms.json")
    with open(path, "w") as f:
        json.dump(cases, f, separators=(",", ":"))
    print(f"wrote {path} ({len(cases)} cases)")


def augmentation_cases():
    """What each random draw of UNETR's augmentations does, at fixed draws: Flip, Rotate90, the crop-centre
    correction of RandCropByPosNegLabel, ScaleIntensity(factor) and ShiftIntensity(offset)."""
    from monai.transforms import Flip, Rotate90, ScaleIntensity, ShiftIntensity
    from monai.transforms.utils import correct_crop_centers

    rng = np.random.default_rng(9)

    def ours(t):
        a = np.moveaxis(np.asarray(t, dtype=np.float64), 0, -1)[..., 0]
        return {"shape": list(a.shape), "values": [number(v) for v in a.reshape(-1, order="F")]}

    x = rng.normal(size=(1, 4, 3, 2)).astype(np.float32)
    cases = {"input": ours(x)}
    for axis in range(3):
        cases[f"flip_{axis}"] = ours(np.asarray(Flip(spatial_axis=axis)(torch.as_tensor(x))))
    for k in (1, 2, 3):
        cases[f"rot90_{k}"] = ours(np.asarray(Rotate90(k=k, spatial_axes=(0, 1))(torch.as_tensor(x))))
    cases["scale_0.07"] = ours(np.asarray(ScaleIntensity(minv=None, maxv=None, factor=0.07)(torch.as_tensor(x))))
    cases["shift_-0.04"] = ours(np.asarray(ShiftIntensity(offset=-0.04)(torch.as_tensor(x))))
    crops = []
    for shape, size, centre in (((10, 9, 7), (4, 4, 4), (0, 8, 3)), ((10, 9, 7), (5, 3, 6), (9, 0, 6)),
                                ((6, 6, 6), (6, 5, 3), (2, 3, 5)), ((96, 120, 80), (96, 96, 96)[:2] + (80,), (50, 119, 0))):
        corrected = correct_crop_centers(list(centre), list(size), list(shape), allow_smaller=False)
        crops.append({"shape": list(shape), "size": list(size), "centre": list(centre),
                      "corrected": [int(c) for c in corrected]})
    cases["crops"] = crops
    path = os.path.join(OUT, "augmentations.json")
    with open(path, "w") as f:
        json.dump(cases, f, separators=(",", ":"))
    print(f"wrote {path}")


def pipeline_case():
    from monai.data import MetaTensor
    from monai.transforms import Compose, CropForegroundd, Orientationd, ScaleIntensityRanged, Spacingd

    rng = np.random.default_rng(11)
    shape = (9, 8, 6)
    affine = np.diag([-0.9, -1.1, 2.6, 1.0])
    affine[:3, 3] = [40, 25, -60]
    image = np.full(shape, -1000.0, dtype=np.float32)
    image[2:8, 1:6, 1:5] = rng.integers(-300, 400, size=(6, 5, 4))
    labels = np.zeros(shape, dtype=np.float32)
    labels[3:6, 2:5, 2:4] = 1
    labels[6:8, 4:6, 1:3] = 2
    meta = lambda a: MetaTensor(torch.as_tensor(a[None]), affine=torch.as_tensor(affine, dtype=torch.float64))
    pipeline = Compose([
        Orientationd(keys=["image", "label"], axcodes="RAS"),
        Spacingd(keys=["image", "label"], pixdim=(1.5, 1.5, 2.0), mode=("bilinear", "nearest")),
        ScaleIntensityRanged(keys=["image"], a_min=-175, a_max=250, b_min=0.0, b_max=1.0, clip=True),
        CropForegroundd(keys=["image", "label"], source_key="image"),
    ])
    out = pipeline({"image": meta(image), "label": meta(labels)})
    flat = lambda a: [number(v) for v in np.asarray(a, dtype=np.float64).reshape(-1, order="F")]
    case = {"shape": list(shape), "affine": [float(v) for v in affine.reshape(-1)], "image": flat(image), "label": flat(labels),
            "output_shape": list(out["image"].shape[1:]), "output_image": flat(out["image"][0]),
            "output_label": flat(out["label"][0]), "output_affine": [float(v) for v in np.asarray(out["image"].affine).reshape(-1)]}
    path = os.path.join(OUT, "pipeline.json")
    with open(path, "w") as f:
        json.dump(case, f, separators=(",", ":"))
    print(f"wrote {path} (output {case['output_shape']})")


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["pipeline"]:
        pipeline_case()
        sys.exit(0)
    nifti_fixtures()
    transform_cases()
    pipeline_case()
    augmentation_cases()
    metric_cases()
    layout_fixtures()
