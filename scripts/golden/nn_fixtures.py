"""Golden values for the NN layers, losses, optimisers and schedules (Tests/EngineTests/GoldenNNTests.swift).

Run with the reference environment:  /work/venv/bin/python scripts/golden/nn_fixtures.py
Writes Tests/EngineTests/Fixtures/{conv,conv_transpose,pool,interpolate,norm,activation,loss,optim,schedule,
pool_ceil,loss_smoothing,conv3d_kernels}.json
and mixed.safetensors.

Inputs and weights are drawn in float32 (torch.manual_seed) and stored; references are computed by PyTorch in
float64 from those exact values. Naming inside a case: inputs by role ("x", "weight", ...), "output" the forward
result, "r" the upstream gradient, and "grad.<name>" the gradient of sum(output * r) with respect to <name>.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FIXTURES, seed, write_fixture  # noqa: E402


def rand(*shape, std=1.0):
    """float32 draw, promoted to float64 for the reference."""
    return (torch.randn(*shape, dtype=torch.float32) * std).double()


def uniform(*shape, lo=0.0, hi=1.0):
    return (torch.rand(*shape, dtype=torch.float32) * (hi - lo) + lo).double()


def with_grads(out, leaves, r=None):
    """Backward of sum(out * r) (or of the scalar out); returns {"grad.<name>": grad} for the named leaves."""
    for t in leaves.values():
        t.grad = None
    (out * r).sum().backward() if r is not None else out.backward()
    return {f"grad.{n}": t.grad.detach().clone() for n, t in leaves.items()}


def layer_case(fn, inputs, params=None):
    """Runs fn on the inputs (all leaves needing grad), with a random upstream gradient."""
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items() if v is not None}
    out = fn(**leaves)
    r = rand(*out.shape)
    case = {k: v.detach() for k, v in leaves.items()}
    case.update({"output": out.detach(), "r": r})
    case.update(with_grads(out, leaves, r))
    case.update(params or {})
    return case


# ---------------------------------------------------------------------------------------------------------------
# Convolutions

def conv_case(dims, n, cin, cout, size, kernel, stride, padding, dilation, groups, bias=True):
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    x = rand(n, cin, *size)
    w = rand(cout, cin // groups, *kernel, std=0.5)
    b = rand(cout) if bias else None
    return layer_case(lambda x, weight, bias=None: conv(x, weight, bias, stride, padding, dilation, groups),
                      {"x": x, "weight": w, "bias": b},
                      {"stride": list(stride), "padding": list(padding), "dilation": list(dilation), "groups": groups,
                       "has_bias": bias})


def conv_transpose_case(dims, n, cin, cout, size, kernel, stride, padding, output_padding, dilation, groups, bias=True):
    conv = {2: F.conv_transpose2d, 3: F.conv_transpose3d}[dims]
    x = rand(n, cin, *size)
    w = rand(cin, cout // groups, *kernel, std=0.5)
    b = rand(cout) if bias else None
    return layer_case(
        lambda x, weight, bias=None: conv(x, weight, bias, stride, padding, output_padding, groups, dilation),
        {"x": x, "weight": w, "bias": b},
        {"stride": list(stride), "padding": list(padding), "output_padding": list(output_padding),
         "dilation": list(dilation), "groups": groups, "has_bias": bias})


def conv_cases():
    return {
        "conv1d": conv_case(1, 2, 3, 5, [11], [3], [2], [1], [2], 1),
        "conv2d_basic": conv_case(2, 2, 3, 4, [7, 6], [3, 3], [1, 1], [1, 1], [1, 1], 1),
        "conv2d_stride_dilation": conv_case(2, 2, 3, 4, [9, 8], [3, 2], [2, 1], [1, 2], [2, 1], 1),
        "conv2d_groups": conv_case(2, 2, 4, 6, [7, 7], [3, 3], [2, 2], [1, 1], [1, 1], 2, bias=False),
        "conv2d_depthwise": conv_case(2, 1, 4, 4, [6, 5], [3, 3], [1, 1], [1, 1], [1, 1], 4),
        "conv2d_1x1": conv_case(2, 2, 5, 3, [4, 6], [1, 1], [1, 1], [0, 0], [1, 1], 1),
        "conv3d_basic": conv_case(3, 1, 2, 3, [5, 6, 4], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
        "conv3d_general": conv_case(3, 2, 4, 4, [5, 5, 6], [3, 2, 3], [2, 1, 2], [1, 0, 1], [1, 2, 1], 2),
    }


def conv_transpose_cases():
    return {
        "ct2d_unet_up": conv_transpose_case(2, 2, 4, 3, [3, 4], [2, 2], [2, 2], [0, 0], [0, 0], [1, 1], 1),
        "ct2d_general": conv_transpose_case(2, 2, 4, 6, [3, 4], [3, 2], [2, 3], [1, 0], [1, 1], [1, 2], 2),
        "ct3d_unet_up": conv_transpose_case(3, 1, 4, 2, [2, 3, 3], [2, 2, 2], [2, 2, 2], [0, 0, 0], [0, 0, 0],
                                            [1, 1, 1], 1),
        "ct3d_general": conv_transpose_case(3, 1, 4, 4, [2, 3, 3], [3, 3, 2], [1, 2, 2], [0, 1, 1], [0, 1, 0],
                                            [1, 1, 1], 2, bias=False),
    }


# ---------------------------------------------------------------------------------------------------------------
# Pooling and interpolation

def pool_cases():
    def pool(fn, x, **kw):
        return layer_case(lambda x: fn(x, **kw), {"x": x},
                          {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in kw.items()})
    return {
        "maxpool2d": pool(F.max_pool2d, rand(2, 3, 7, 8), kernel_size=[3, 3], stride=[2, 2], padding=[1, 1]),
        "maxpool2d_k2": pool(F.max_pool2d, rand(2, 2, 6, 7), kernel_size=[2, 2], stride=[2, 2], padding=[0, 0]),
        "avgpool2d_pad": pool(F.avg_pool2d, rand(2, 3, 7, 8), kernel_size=[3, 3], stride=[2, 2], padding=[1, 1],
                              count_include_pad=True),
        "avgpool2d_nopad_count": pool(F.avg_pool2d, rand(2, 3, 7, 8), kernel_size=[3, 2], stride=[2, 1],
                                      padding=[1, 1], count_include_pad=False),
        "maxpool3d": pool(F.max_pool3d, rand(1, 2, 5, 6, 7), kernel_size=[2, 3, 2], stride=[2, 2, 1],
                          padding=[1, 1, 0]),
        "avgpool3d": pool(F.avg_pool3d, rand(1, 2, 5, 6, 4), kernel_size=[3, 3, 3], stride=[2, 2, 2],
                          padding=[1, 1, 1], count_include_pad=False),
        "adaptive2d": pool(F.adaptive_avg_pool2d, rand(2, 3, 7, 9), output_size=[3, 4]),
        "adaptive2d_global": pool(F.adaptive_avg_pool2d, rand(2, 3, 5, 6), output_size=[1, 1]),
        "adaptive3d": pool(F.adaptive_avg_pool3d, rand(1, 2, 5, 7, 6), output_size=[2, 3, 4]),
    }


def interpolate_cases():
    def interp(x, mode, align, size=None, scale=None):
        kw = {"mode": mode}
        if mode != "nearest":
            kw["align_corners"] = align
        if size is not None:
            kw["size"] = size
        else:
            kw["scale_factor"] = scale
        params = {"mode": mode, "align_corners": bool(align)}
        params.update({"size": size} if size is not None else {"scale_factor": scale})
        return layer_case(lambda x: F.interpolate(x, **kw), {"x": x}, params)
    cases = {
        "nearest2d_up": interp(rand(1, 2, 3, 4), "nearest", False, size=[7, 9]),
        "nearest2d_down": interp(rand(1, 2, 7, 9), "nearest", False, size=[3, 4]),
        "nearest3d": interp(rand(1, 2, 3, 4, 2), "nearest", False, size=[5, 7, 4]),
        "nearest2d_scale2": interp(rand(1, 2, 3, 4), "nearest", False, scale=2.0),
        "linear1d": interp(rand(2, 3, 5), "linear", False, size=[8]),
    }
    for align in (False, True):
        tag = "align" if align else "noalign"
        cases[f"bilinear_up_{tag}"] = interp(rand(1, 2, 3, 4), "bilinear", align, size=[6, 7])
        cases[f"bilinear_down_{tag}"] = interp(rand(1, 2, 7, 8), "bilinear", align, size=[3, 5])
        cases[f"bilinear_scale2_{tag}"] = interp(rand(2, 1, 3, 4), "bilinear", align, scale=2.0)
        cases[f"trilinear_{tag}"] = interp(rand(1, 2, 3, 4, 3), "trilinear", align, size=[5, 6, 7])
    return cases


# ---------------------------------------------------------------------------------------------------------------
# Normalisation

def layer_norm_case(shape, normalized):
    return layer_case(lambda x, weight, bias: F.layer_norm(x, normalized, weight, bias, 1e-5),
                      {"x": rand(*shape, std=2) + 0.5, "weight": rand(*normalized), "bias": rand(*normalized)},
                      {"normalized_shape": list(normalized), "eps": 1e-5})


def batch_norm_train_case(shape, relu=False, steps=1):
    """BatchNorm in training mode with weight/bias; the last step's output and gradients, running stats after all."""
    c = shape[1]
    bn = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[len(shape)](c).double().train()
    weight, bias = rand(c), rand(c)
    with torch.no_grad():
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
    case = {"weight": weight, "bias": bias}
    for s in range(steps):
        x = (rand(*shape, std=1.5) + 0.7).requires_grad_()
        out = bn(x)
        if relu:
            out = F.relu(out)
        if s < steps - 1:
            case[f"x{s}"] = x.detach()
    r = rand(*out.shape)
    case.update({"x": x.detach(), "output": out.detach(), "r": r})
    case.update(with_grads(out, {"x": x, "weight": bn.weight, "bias": bn.bias}, r))
    case.update({"running_mean": bn.running_mean, "running_var": bn.running_var,
                 "num_batches_tracked": float(bn.num_batches_tracked), "steps": steps, "relu": relu,
                 "momentum": 0.1, "eps": 1e-5})
    return case


def batch_norm_eval_case(shape):
    c = shape[1]
    bn = nn.BatchNorm2d(c).double().eval()
    weight, bias, mean, var = rand(c), rand(c), rand(c), uniform(c, lo=0.5, hi=2.0)
    with torch.no_grad():
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
    x = rand(*shape).requires_grad_()
    out = bn(x)
    r = rand(*out.shape)
    case = {"x": x.detach(), "weight": weight, "bias": bias, "running_mean": mean, "running_var": var,
            "output": out.detach(), "r": r}
    case.update(with_grads(out, {"x": x, "weight": bn.weight, "bias": bn.bias}, r))
    return case


def group_norm_case(shape, groups, affine=True):
    c = shape[1]
    inputs = {"x": rand(*shape, std=2) - 0.3}
    if affine:
        inputs.update({"weight": rand(c), "bias": rand(c)})
    return layer_case(lambda x, weight=None, bias=None: F.group_norm(x, groups, weight, bias, 1e-5), inputs,
                      {"groups": groups, "affine": affine, "eps": 1e-5})


def instance_norm_case(shape, affine):
    c = shape[1]
    inputs = {"x": rand(*shape, std=2) + 1.0}
    if affine:
        inputs.update({"weight": rand(c), "bias": rand(c)})
    return layer_case(lambda x, weight=None, bias=None: F.instance_norm(x, weight=weight, bias=bias, eps=1e-5),
                      inputs, {"affine": affine, "eps": 1e-5})


def norm_cases():
    return {
        "layernorm_last": layer_norm_case([3, 4, 10], [10]),
        "layernorm_two_dims": layer_norm_case([2, 3, 4, 5], [4, 5]),
        "batchnorm2d_train": batch_norm_train_case([4, 3, 5, 6]),
        "batchnorm2d_train_relu": batch_norm_train_case([3, 4, 4, 5], relu=True),
        "batchnorm2d_train_three_steps": batch_norm_train_case([2, 3, 4, 4], steps=3),
        "batchnorm1d_train_2d": batch_norm_train_case([6, 4]),
        "batchnorm1d_train_3d": batch_norm_train_case([3, 4, 5]),
        "batchnorm3d_train": batch_norm_train_case([2, 3, 3, 4, 5]),
        "batchnorm2d_eval": batch_norm_eval_case([3, 4, 5, 5]),
        "groupnorm2d": group_norm_case([2, 6, 4, 5], 3),
        "groupnorm3d": group_norm_case([2, 4, 3, 3, 2], 2),
        "groupnorm_noaffine": group_norm_case([2, 4, 5, 5], 4, affine=False),
        "instancenorm2d": instance_norm_case([2, 3, 5, 6], affine=False),
        "instancenorm2d_affine": instance_norm_case([2, 3, 5, 6], affine=True),
        "instancenorm3d_affine": instance_norm_case([2, 3, 3, 4, 5], affine=True),
    }


def activation_cases():
    x = torch.linspace(-6, 6, 97, dtype=torch.float32).double() + rand(97, std=0.05)
    return {
        "gelu_exact": layer_case(lambda x: F.gelu(x), {"x": x}),
        "gelu_tanh": layer_case(lambda x: F.gelu(x, approximate="tanh"), {"x": x}),
        "silu": layer_case(lambda x: F.silu(x), {"x": x}),
    }


# ---------------------------------------------------------------------------------------------------------------
# Losses: each case stores the scalar loss as "loss" and gradients of the loss itself.

def scalar_case(fn, inputs, constants, params=None):
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    loss = fn(**leaves, **constants)
    case = {k: v.detach() for k, v in leaves.items()}
    case.update({k: v for k, v in constants.items() if isinstance(v, torch.Tensor)})
    case["loss"] = loss.item()
    case.update(with_grads(loss, leaves))
    case.update(params or {})
    return case


def binary_targets(*shape, p=0.4):
    return (torch.rand(*shape) < p).double()


def soft_dice(p, t, smooth, axes):
    inter = (p * t).sum(axes)
    den = p.sum(axes) + t.sum(axes)
    return 1 - ((2 * inter + smooth) / (den + smooth)).mean()


def dice_sigmoid(logits, targets, smooth=1e-5, batch=False):
    axes = ([0] if batch else []) + list(range(2, logits.dim()))
    return soft_dice(torch.sigmoid(logits), targets, smooth, axes)


def dice_softmax(logits, targets, smooth=1e-5, include_background=True, mask=None):
    p = torch.softmax(logits, 1)
    t = targets
    if mask is not None:
        p, t = p * mask, t * mask
    if not include_background:
        p, t = p[:, 1:], t[:, 1:]
    return soft_dice(p, t, smooth, list(range(2, logits.dim())))


def one_hot(labels, classes, ignore):
    safe = labels.clone()
    safe[labels == ignore] = 0
    oh = F.one_hot(safe.long(), classes).movedim(-1, 1).double()
    return oh * (labels != ignore).unsqueeze(1).double()


def l2n(x):
    return F.normalize(x, dim=-1)


def info_nce(image, text, log_scale):
    logits = log_scale.exp() * l2n(image) @ l2n(text).t()
    target = torch.arange(image.shape[0])
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def siglip(image, text, log_scale, bias):
    logits = log_scale.exp() * l2n(image) @ l2n(text).t() + bias
    labels = 2 * torch.eye(image.shape[0], dtype=logits.dtype) - 1
    return -F.logsigmoid(labels * logits).sum() / image.shape[0]


def wan(logits, targets, gamma):
    """Cole et al. 2021: -log p on observed positives, -gamma*log(1-p) on the rest, mean over all entries."""
    w = targets + (1 - targets) * gamma
    return F.binary_cross_entropy_with_logits(logits, targets, weight=w)


def loss_cases():
    cases = {}
    x, y = rand(4, 3, std=3), binary_targets(4, 3)
    cases["bce_logits"] = scalar_case(lambda logits, targets: F.binary_cross_entropy_with_logits(logits, targets),
                                      {"logits": x}, {"targets": y})
    pw = uniform(3, lo=0.5, hi=4)
    cases["bce_logits_pos_weight"] = scalar_case(
        lambda logits, targets, pos_weight: F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight),
        {"logits": x}, {"targets": y, "pos_weight": pw})
    cases["bce_logits_sum"] = scalar_case(
        lambda logits, targets: F.binary_cross_entropy_with_logits(logits, targets, reduction="sum"),
        {"logits": x}, {"targets": y}, {"reduction": "sum"})
    extreme = torch.tensor([[-60.0, -25.0, -3.0, 0.0], [3.0, 25.0, 60.0, 90.0]], dtype=torch.float64)
    cases["bce_logits_extreme"] = scalar_case(
        lambda logits, targets: F.binary_cross_entropy_with_logits(logits, targets),
        {"logits": extreme}, {"targets": torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1]], dtype=torch.float64)})

    logits, targets = rand(5, 4, std=2), torch.randint(0, 4, (5,))
    cases["ce_basic"] = scalar_case(lambda logits, targets: F.cross_entropy(logits, targets.long()),
                                    {"logits": logits}, {"targets": targets.double()})
    seg, labels = rand(2, 4, 3, 3, std=2), torch.randint(0, 4, (2, 3, 3))
    labels[0, 0, :2] = 255
    labels[1, 2, 1] = 255
    cw = uniform(4, lo=0.2, hi=2)
    cases["ce_weighted_ignore"] = scalar_case(
        lambda logits, targets, weight: F.cross_entropy(logits, targets.long(), weight=weight, ignore_index=255),
        {"logits": seg}, {"targets": labels.double(), "weight": cw}, {"ignore_index": 255})
    cases["ce_sum"] = scalar_case(
        lambda logits, targets: F.cross_entropy(logits, targets.long(), reduction="sum"),
        {"logits": seg}, {"targets": torch.randint(0, 4, (2, 3, 3)).double()}, {"reduction": "sum"})

    bl, bt = rand(2, 1, 6, 6, std=2), binary_targets(2, 1, 6, 6)
    cases["dice_binary"] = scalar_case(lambda logits, targets: dice_sigmoid(logits, targets), {"logits": bl},
                                       {"targets": bt}, {"smooth": 1e-5})
    cases["dice_binary_smooth1_batch"] = scalar_case(
        lambda logits, targets: dice_sigmoid(logits, targets, smooth=1.0, batch=True), {"logits": bl},
        {"targets": bt}, {"smooth": 1.0, "batch": True})
    ml, lab = rand(2, 4, 5, 5, std=2), torch.randint(0, 4, (2, 5, 5))
    oh = one_hot(lab, 4, -100)
    cases["dice_softmax"] = scalar_case(lambda logits, targets, **_: dice_softmax(logits, targets), {"logits": ml},
                                        {"targets": oh, "labels": lab.double()}, {"include_background": True})
    cases["dice_softmax_nobg"] = scalar_case(
        lambda logits, targets, **_: dice_softmax(logits, targets, include_background=False), {"logits": ml},
        {"targets": oh, "labels": lab.double()}, {"include_background": False})

    dl, dlab = rand(2, 3, 4, 4, std=2), torch.randint(0, 3, (2, 4, 4))
    dlab[1, 0, :3] = -100
    mask = (dlab != -100).unsqueeze(1).double()
    cases["dice_ce_ignore"] = scalar_case(
        lambda logits, labels: dice_softmax(logits, one_hot(labels, 3, -100), mask=mask)
        + F.cross_entropy(logits, labels.long(), ignore_index=-100),
        {"logits": dl}, {"labels": dlab.double()})

    img, txt = rand(6, 8), rand(6, 8)
    cases["infonce"] = scalar_case(info_nce, {"image": img, "text": txt,
                                              "log_scale": torch.tensor(math.log(1 / 0.07), dtype=torch.float64)}, {})
    img, txt = rand(5, 8), rand(5, 8)
    cases["siglip_init"] = scalar_case(siglip, {"image": img, "text": txt,
                                                "log_scale": torch.tensor(math.log(10.0), dtype=torch.float64),
                                                "bias": torch.tensor(-10.0, dtype=torch.float64)}, {})
    cases["siglip_trained"] = scalar_case(siglip, {"image": img, "text": txt,
                                                   "log_scale": torch.tensor(1.7, dtype=torch.float64),
                                                   "bias": torch.tensor(-1.5, dtype=torch.float64)}, {})

    wl = rand(4, 6, std=2)
    wt = torch.zeros(4, 6, dtype=torch.float64)
    wt[0, 1] = wt[1, 4] = wt[2, 0] = wt[2, 5] = wt[3, 3] = 1
    cases["wan_default"] = scalar_case(lambda logits, targets: wan(logits, targets, 1 / 5), {"logits": wl},
                                       {"targets": wt})
    cases["wan_gamma"] = scalar_case(lambda logits, targets: wan(logits, targets, 0.5), {"logits": wl},
                                     {"targets": wt}, {"gamma": 0.5})

    a, b = rand(3, 4), rand(3, 4)
    cases["mse"] = scalar_case(lambda input, target: F.mse_loss(input, target), {"input": a}, {"target": b})
    cases["l1"] = scalar_case(lambda input, target: F.l1_loss(input, target), {"input": a}, {"target": b})
    return cases


# ---------------------------------------------------------------------------------------------------------------
# Optimisers: three steps on two parameters with stored gradients; parameters after every step.

def optimizer_case(make, steps=3):
    p0, q0 = rand(10), rand(3, 4)
    grads = [(rand(10), rand(3, 4)) for _ in range(steps)]
    p, q = p0.clone().requires_grad_(), q0.clone().requires_grad_()
    opt = make([p, q])
    case = {"p": p0, "q": q0}
    for s, (gp, gq) in enumerate(grads):
        p.grad, q.grad = gp.clone(), gq.clone()
        opt.step()
        case.update({f"grad_p{s}": gp, f"grad_q{s}": gq, f"p_after{s}": p.detach().clone(),
                     f"q_after{s}": q.detach().clone()})
    case["steps"] = steps
    return case


def clip_case():
    grads = [rand(10), rand(3, 4)]
    clipped = [g.clone() for g in grads]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for prm, g in zip(params, clipped):
        prm.grad = g
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm=1.5)
    return {"grad_p": grads[0], "grad_q": grads[1], "clipped_p": params[0].grad, "clipped_q": params[1].grad,
            "norm": float(norm), "max_norm": 1.5}


def optim_cases():
    return {
        "adam": optimizer_case(lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8,
                                                           weight_decay=0.1)),
        "adam_betas": optimizer_case(lambda ps: torch.optim.Adam(ps, lr=3e-3, betas=(0.8, 0.99), eps=1e-6)),
        "adamw": optimizer_case(lambda ps: torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8,
                                                             weight_decay=0.05)),
        "sgd_momentum": optimizer_case(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3)),
        "sgd_nesterov": optimizer_case(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                                                  weight_decay=1e-2)),
        "sgd_dampening": optimizer_case(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.3)),
        "sgd_plain": optimizer_case(lambda ps: torch.optim.SGD(ps, lr=0.1)),
        "clip_grad_norm": clip_case(),
    }


# ---------------------------------------------------------------------------------------------------------------
# Learning-rate schedules: the lr seen by optimizer step t, for t = 0..steps-1.

def schedule_values(make, steps, base=0.1):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    sched = make(opt)
    values = []
    for _ in range(steps):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return {"lr": torch.tensor(values, dtype=torch.float64), "base": base}


def schedule_cases():
    S = torch.optim.lr_scheduler
    return {
        "cosine": dict(schedule_values(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=1e-4), 11),
                       total=10, min_lr=1e-4),
        "warmup_cosine": dict(schedule_values(
            lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.01, total_iters=5),
                                         S.CosineAnnealingLR(o, T_max=15, eta_min=1e-5)], milestones=[5]), 21),
            warmup=5, total=20, warmup_start_lr=0.1 * 0.01, min_lr=1e-5),
        "restarts_tmult2": dict(schedule_values(
            lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-3), 26), t0=3, t_mult=2,
            min_lr=1e-3),
        "restarts_tmult1": dict(schedule_values(
            lambda o: S.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=1), 13), t0=4, t_mult=1, min_lr=0.0),
        "step": dict(schedule_values(lambda o: S.StepLR(o, step_size=4, gamma=0.5), 13), size=4, gamma=0.5),
        "poly": dict(schedule_values(lambda o: S.PolynomialLR(o, total_iters=10, power=0.9), 13), total=10,
                     power=0.9),
    }


# ---------------------------------------------------------------------------------------------------------------
# A safetensors file with every float type the reader converts, and the values it must read.

def write_safetensors():
    from safetensors.torch import save_file
    t32 = torch.randn(2, 3)
    t16 = torch.tensor([0.0, -1.5, 65504.0, 6.1e-5, 3.0e-7, -0.3333], dtype=torch.float16)
    tb16 = torch.tensor([[1.0, -2.5], [3.14159, 1e-20], [1e30, -0.007]], dtype=torch.bfloat16)
    ti64 = torch.tensor([0, 1, 2, 511], dtype=torch.int64)
    save_file({"layer.weight": t32, "half": t16, "brain": tb16, "position_ids": ti64},
              os.path.join(FIXTURES, "mixed.safetensors"), metadata={"format": "pt", "note": "golden"})
    return {"mixed": {"layer.weight": t32.double(), "half": t16.double(), "brain": tb16.double(),
                      "position_ids": ti64.double()}}


def parity_cases():
    """Options added after the first fixtures (drawn last, so the earlier files keep their values)."""
    def pool(fn, x, **kw):
        return layer_case(lambda x: fn(x, **kw), {"x": x},
                          {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in kw.items()})
    pools = {
        # ceil_mode adds a last partial window on both axes; in the last case it would start in the right padding
        # and PyTorch drops it.
        "maxpool2d_ceil": pool(F.max_pool2d, rand(2, 2, 8, 9), kernel_size=[3, 2], stride=[2, 2], padding=[0, 0],
                               ceil_mode=True),
        "avgpool2d_ceil_nopad_count": pool(F.avg_pool2d, rand(2, 3, 8, 9), kernel_size=[3, 3], stride=[2, 2],
                                           padding=[1, 1], count_include_pad=False, ceil_mode=True),
        "avgpool2d_ceil_pad": pool(F.avg_pool2d, rand(1, 2, 5, 7), kernel_size=[2, 3], stride=[2, 2],
                                   padding=[1, 1], count_include_pad=True, ceil_mode=True),
        "maxpool3d_ceil": pool(F.max_pool3d, rand(1, 2, 5, 6, 7), kernel_size=[2, 2, 3], stride=[2, 2, 2],
                               padding=[0, 1, 1], ceil_mode=True),
    }
    losses = {}
    seg, labels = rand(2, 4, 3, 3, std=2), torch.randint(0, 4, (2, 3, 3))
    labels[0, 0, :2] = 255
    cw = uniform(4, lo=0.2, hi=2)
    losses["ce_smoothing_weighted_ignore"] = scalar_case(
        lambda logits, targets, weight: F.cross_entropy(logits, targets.long(), weight=weight, ignore_index=255,
                                                        label_smoothing=0.2),
        {"logits": seg}, {"targets": labels.double(), "weight": cw}, {"ignore_index": 255, "label_smoothing": 0.2})
    logits, targets = rand(5, 4, std=2), torch.randint(0, 4, (5,))
    losses["ce_smoothing_sum"] = scalar_case(
        lambda logits, targets: F.cross_entropy(logits, targets.long(), reduction="sum", label_smoothing=0.1),
        {"logits": logits}, {"targets": targets.double()}, {"label_smoothing": 0.1})
    return pools, losses


def conv3d_kernel_cases():
    """3D convolutions of groups 1, the ones the engine runs on oneDNN: strides 1 and 2, odd and anisotropic sizes,
    channel counts that give oneDNN's blocked layouts (16) and ones that do not, a UNETR-like patch embedding."""
    seed(20261201)
    return {
        "s1_odd": conv_case(3, 1, 3, 5, [5, 3, 7], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
        "s2_odd": conv_case(3, 1, 4, 6, [7, 5, 3], [3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 1, 1], 1),
        "blocked_16to8_s1": conv_case(3, 1, 16, 8, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1),
        "blocked_8to16_s2_nobias": conv_case(3, 1, 8, 16, [5, 4, 5], [3, 3, 1], [2, 2, 2], [1, 1, 0], [1, 1, 1], 1,
                                             bias=False),
        "pointwise_s2": conv_case(3, 1, 16, 8, [3, 4, 5], [1, 1, 1], [2, 2, 2], [0, 0, 0], [1, 1, 1], 1),
        "anisotropic_dilated": conv_case(3, 1, 5, 7, [5, 4, 5], [3, 1, 3], [1, 2, 1], [1, 0, 1], [2, 1, 1], 1),
        "patch_embed_k4s4": conv_case(3, 1, 1, 16, [8, 8, 4], [4, 4, 4], [4, 4, 4], [0, 0, 0], [1, 1, 1], 1),
    }


def conv_transpose3d_kernel_cases():
    """3D transposed convolutions of groups 1, which the engine runs on oneDNN's convolution kernels with the roles
    of forward and input gradient swapped: UNETR's 2×2×2 stride 2, odd sizes with output padding, blocked channels."""
    seed(20261202)
    return {
        "unetr_up_k2s2": conv_transpose_case(3, 1, 16, 8, [3, 3, 4], [2, 2, 2], [2, 2, 2], [0, 0, 0], [0, 0, 0],
                                             [1, 1, 1], 1, bias=False),
        "k3s2_odd_output_padding": conv_transpose_case(3, 1, 5, 3, [3, 4, 5], [3, 3, 3], [2, 2, 2], [1, 1, 1],
                                                       [1, 0, 1], [1, 1, 1], 1),
        "k313s1_blocked": conv_transpose_case(3, 1, 16, 16, [3, 3, 3], [3, 1, 3], [1, 1, 1], [1, 0, 1], [0, 0, 0],
                                            [1, 1, 1], 1),
        "anisotropic": conv_transpose_case(3, 1, 4, 6, [2, 3, 3], [3, 2, 1], [1, 2, 2], [0, 0, 0], [0, 1, 1],
                                           [1, 1, 1], 1),
    }


def main():
    seed(20240611)
    write_fixture(os.path.join(FIXTURES, "conv.json"), conv_cases())
    write_fixture(os.path.join(FIXTURES, "conv_transpose.json"), conv_transpose_cases())
    write_fixture(os.path.join(FIXTURES, "pool.json"), pool_cases())
    write_fixture(os.path.join(FIXTURES, "interpolate.json"), interpolate_cases())
    write_fixture(os.path.join(FIXTURES, "norm.json"), norm_cases())
    write_fixture(os.path.join(FIXTURES, "activation.json"), activation_cases())
    write_fixture(os.path.join(FIXTURES, "loss.json"), loss_cases())
    write_fixture(os.path.join(FIXTURES, "optim.json"), optim_cases())
    write_fixture(os.path.join(FIXTURES, "schedule.json"), schedule_cases())
    write_fixture(os.path.join(FIXTURES, "safetensors.json"), write_safetensors())
    pools, losses = parity_cases()
    write_fixture(os.path.join(FIXTURES, "pool_ceil.json"), pools)
    write_fixture(os.path.join(FIXTURES, "loss_smoothing.json"), losses)
    # Appended later with a seed of its own, so that the files above keep their values.
    write_fixture(os.path.join(FIXTURES, "conv3d_kernels.json"), conv3d_kernel_cases())
    write_fixture(os.path.join(FIXTURES, "conv_transpose3d_kernels.json"), conv_transpose3d_kernel_cases())


if __name__ == "__main__":
    main()
