"""MONAI references for the 3D runner's inference and loss (Tests/EngineTests/Fixtures/monai_inference.json).

    ~/.venvs/torch/bin/python scripts/golden/monai_fixtures.py

sliding_window: monai.inferers.sliding_window_inference with constant and Gaussian blending, overlaps 0.25 and 0.5,
a roi larger than the image along one axis (padding), several windows per network call, 2D and 3D. The "network"
is a fixed function whose output depends on the whole window (its mean), so that a wrong window placement or
weighting changes the result: y_k = tanh(0.3·(k + 1)·Σ_c x_c) + 0.1·k·mean(window).

dice_ce: UNETR's BTCV loss, DiceCELoss(to_onehot_y=True, softmax=True, squared_pred=True, smooth_nr=0,
smooth_dr=1e-6), its value and the gradient of its logits.
"""
import os
import sys

import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss

sys.path.insert(0, os.path.dirname(__file__))
from common import FIXTURES, seed, write_fixture  # noqa: E402


def network(k):
    def f(x):
        s = x.sum(dim=1, keepdim=True)
        m = x.mean(dim=tuple(range(1, x.dim())), keepdim=True)
        return torch.cat([torch.tanh(0.3 * (i + 1) * s) + 0.1 * i * m for i in range(k)], dim=1)
    return f


def sliding_cases():
    seed(20261203)
    cases = {}
    for name, shape, roi, overlap, mode, batch in [
        ("constant_025_3d", (1, 2, 9, 11, 7), (4, 5, 6), 0.25, "constant", 1),
        ("gaussian_05_3d_batched", (2, 1, 10, 8, 9), (6, 4, 5), 0.5, "gaussian", 3),
        ("padded_roi_3d", (1, 1, 5, 6, 3), (4, 4, 4), 0.5, "constant", 2),
        ("gaussian_2d", (1, 3, 13, 10), (6, 7), 0.25, "gaussian", 1),
    ]:
        x = torch.randn(*shape)
        y = sliding_window_inference(x, roi, batch, network(3), overlap=overlap, mode=mode)
        cases[name] = {"x": x, "y": y, "roi": list(roi), "overlap": overlap, "mode": mode, "batch": batch}
    return cases


def dice_ce_cases():
    seed(20261204)
    logits = torch.randn(2, 4, 5, 4, 3, requires_grad=True)
    labels = torch.randint(0, 4, (2, 1, 5, 4, 3))
    loss = DiceCELoss(to_onehot_y=True, softmax=True, squared_pred=True, smooth_nr=0.0, smooth_dr=1e-6)(logits, labels)
    loss.backward()
    return {"unetr_btcv": {"logits": logits.detach(), "labels": labels[:, 0].float(), "loss": loss.detach(),
                           "grad_logits": logits.grad}}


if __name__ == "__main__":
    write_fixture(os.path.join(FIXTURES, "monai_inference.json"), {**sliding_cases(), **dice_ce_cases()})
