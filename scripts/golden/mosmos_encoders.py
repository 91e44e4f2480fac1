"""References for MOSMOS's two 2D encoders and its weight-transfer seams (Tests/NNTests/MOSMOSEncoderTests.swift).

    ~/.venvs/torch/bin/python scripts/golden/mosmos_encoders.py

Prints Swift constants; the test embeds them (small enough that no fixture file is needed).

1. Parameter counts: the U-Net of Models/ResNetUNet.swift (segmentation_models_pytorch's decoder 256/128/64/32/16,
   conv3x3 head) over torchvision's ResNet-50 (fc dropped), and over OpenAI CLIP's ModifiedResNet-50 without its
   attention pool (the U-Net never uses it), for 1 and 3 input channels and 14 classes; and CLIP's RN50 visual
   tower with the attention pool (output 1024, 32 heads, 224 px).
2. A forward golden of a tiny ModifiedResNet (layers [1,1,1,1], width 8, output 32, 4 heads, 64 px) in float64,
   every parameter set by `formula` below, BatchNorm in eval mode with its default running statistics (mean 0,
   var 1): the five U-Net features, the attention pool's global vector, its dense tokens as DenseCLIP computes
   them (every token's attention output) and as MaskCLIP does (c_proj(v_proj(x)) per position, without positional
   embedding), also at 96 px where
   DenseCLIP resizes the positional embedding bilinearly from the 2x2 grid to 3x3.
3. Positional-embedding resizing: timm's resample_abs_pos_embed layout (prefix tokens kept, grid resized) with
   F.interpolate bilinear/trilinear, align_corners=False; 2D grid -> 3D grid by trilinear from depth 1, checked
   equal to a bilinear in-plane resize repeated along depth.

ModifiedResNet below is rewritten (not copied) from openai/CLIP's clip/model.py, since open_clip is not installed:
3-conv stem + avgpool, anti-aliased strided bottlenecks, downsample = AvgPool + 1x1 conv + BN under keys 0/1, QKV
attention pool; its state-dict keys are those of `clip.load("RN50").visual`, and its RN50 count is the published
38,316,896. The dense outputs follow DenseCLIP's AttentionPool2d and MaskCLIP's
maskclip_head.py (attn_pooling off).
"""
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

torch.set_grad_enabled(False)


# ---------------------------------------------------------------- CLIP's ModifiedResNet (keys as in CLIP's RN50)

class CLIPBottleneck(nn.Module):
    def __init__(self, cin, planes, stride=1):
        super().__init__()
        out = planes * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False), nn.BatchNorm2d(planes)
        self.stride = stride
        self.conv3, self.bn3 = nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out)
        self.downsample = None
        if stride > 1 or cin != out:
            # Key "-1" holds the parameter-free AvgPool in CLIP, so the conv and BN keep the names 0 and 1.
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)), ("0", nn.Conv2d(cin, out, 1, bias=False)), ("1", nn.BatchNorm2d(out))]))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        if self.stride > 1:
            h = F.avg_pool2d(h, self.stride)
        h = self.bn3(self.conv3(h))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


class AttnPool(nn.Module):
    def __init__(self, grid, dim, heads, out):
        super().__init__()
        self.grid, self.dim, self.heads = grid, dim, heads
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, dim) / dim ** 0.5)
        self.k_proj, self.q_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.c_proj = nn.Linear(dim, out)

    def pos(self, h, w):
        # DenseCLIP: the spatial part resized bilinearly (align_corners=False) to the feature grid.
        p = self.positional_embedding
        if (h, w) == (self.grid, self.grid):
            return p
        sp = p[1:].reshape(1, self.grid, self.grid, self.dim).permute(0, 3, 1, 2)
        sp = F.interpolate(sp, size=(h, w), mode="bilinear", align_corners=False)
        return torch.cat([p[:1], sp.reshape(self.dim, h * w).t()], 0)

    def forward(self, x):
        b, c, h, w = x.shape
        t = x.reshape(b, c, h * w).permute(2, 0, 1)
        t = torch.cat([t.mean(0, keepdim=True), t], 0) + self.pos(h, w)[:, None, :]
        y, _ = F.multi_head_attention_forward(
            t, t, t, c, self.heads, None, torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            None, None, False, 0.0, self.c_proj.weight, self.c_proj.bias, training=False, need_weights=False,
            use_separate_proj_weight=True, q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight,
            v_proj_weight=self.v_proj.weight)
        y = y.permute(1, 2, 0)
        dense = y[:, :, 1:].reshape(b, -1, h, w)
        # MaskCLIP (maskclip_head.py, attn_pooling off): c_proj(v_proj(x)) of the raw layer4 feature at each
        # position, no positional embedding and no query-key mixing.
        raw = x.reshape(b, c, h * w).permute(0, 2, 1)
        value = self.c_proj(self.v_proj(raw)).permute(0, 2, 1).reshape(b, -1, h, w)
        return y[:, :, 0], dense, value


class ModifiedResNet(nn.Module):
    def __init__(self, layers, output_dim, heads, resolution=224, width=64, in_channels=3, attnpool=True):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(in_channels, width // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(width // 2)
        self.conv2, self.bn2 = nn.Conv2d(width // 2, width // 2, 3, 1, 1, bias=False), nn.BatchNorm2d(width // 2)
        self.conv3, self.bn3 = nn.Conv2d(width // 2, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)
        c = width
        for i, (planes, n) in enumerate(zip([width, 2 * width, 4 * width, 8 * width], layers)):
            blocks = []
            for j in range(n):
                blocks.append(CLIPBottleneck(c, planes, (1 if i == 0 else 2) if j == 0 else 1))
                c = planes * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.feature_channels = [width, 4 * width, 8 * width, 16 * width, 32 * width]
        self.attnpool = AttnPool(resolution // 32, width * 32, heads, output_dim) if attnpool else None

    def features(self, x):
        s = x
        for conv, bn in [(self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)]:
            s = F.relu(bn(conv(s)))
        out, h = [s], F.avg_pool2d(s, 2)
        for layer in [self.layer1, self.layer2, self.layer3, self.layer4]:
            h = layer(h)
            out.append(h)
        return out


class TorchvisionEncoder(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        r = torchvision.models.resnet50(weights=None)
        if in_channels != 3:
            r.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        del r.fc
        self.r = r
        self.feature_channels = [64, 256, 512, 1024, 2048]

    def features(self, x):
        r = self.r
        s = r.relu(r.bn1(r.conv1(x)))
        out, h = [s], r.maxpool(s)
        for layer in [r.layer1, r.layer2, r.layer3, r.layer4]:
            h = layer(h)
            out.append(h)
        return out


class UNet(nn.Module):
    """segmentation_models_pytorch's Unet decoder over any encoder with `features` and `feature_channels`."""

    def __init__(self, encoder, classes=14, decoder=(256, 128, 64, 32, 16)):
        super().__init__()
        self.encoder = encoder
        f = encoder.feature_channels
        skips, c = [f[3], f[2], f[1], f[0], 0], f[4]
        self.blocks = nn.ModuleList()
        for out, skip in zip(decoder, skips):
            self.blocks.append(nn.Sequential(
                nn.Conv2d(c + skip, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(),
                nn.Conv2d(out, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()))
            c = out
        self.head = nn.Conv2d(decoder[-1], classes, 3, padding=1)

    def forward(self, x):
        feats = self.encoder.features(x)
        h = feats.pop()
        for blk in self.blocks:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            if feats:
                h = torch.cat([h, feats.pop()], 1)
            h = blk(h)
        return self.head(h)


def count(m):
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------- deterministic weights

def formula(model):
    """Every parameter from its name's rank in sorted order k and its flat index i: t = sin(0.37 i + 1.3 k + 0.5);
    rank-1 weights (BatchNorm scales) 1 + 0.1 t, biases 0.05 t, other tensors t/sqrt(fan_in)."""
    params = dict(model.named_parameters())
    for k, name in enumerate(sorted(params)):
        p = params[name]
        i = torch.arange(p.numel(), dtype=torch.float64)
        t = torch.sin(0.37 * i + 1.3 * k + 0.5).reshape(p.shape)
        if p.dim() == 1:
            v = 1 + 0.1 * t if name.endswith("weight") else 0.05 * t
        else:
            v = t / math.sqrt(p[0].numel())
        p.copy_(v)


def fmt(v):
    return f"{float(v):.9g}"


def arr(t):
    return "[" + ", ".join(fmt(v) for v in t.reshape(-1)) + "]"


def probe(t):
    """Sum, sum of squares and the values at flat indices n/7, n/3, n/2 and n-1: what the Swift test compares."""
    flat = t.reshape(-1)
    n = flat.numel()
    picks = torch.stack([flat[n // 7], flat[n // 3], flat[n // 2], flat[n - 1]])
    return f"({fmt(flat.sum())}, {fmt((flat * flat).sum())}, {arr(picks)})"


def main():
    # 1. counts
    tv1 = count(UNet(TorchvisionEncoder(1)))
    assert tv1 == 32_516_718, tv1
    print(f"// torchvision ResNet-50 U-Net, 1 channel, 14 classes: {tv1}")
    print(f"// torchvision ResNet-50 U-Net, 3 channels, 14 classes: {count(UNet(TorchvisionEncoder(3)))}")
    rn50 = ModifiedResNet([3, 4, 6, 3], 1024, 32, 224, 64)
    print(f"// CLIP RN50 visual with attnpool: {count(rn50)}  (attnpool {count(rn50.attnpool)})")
    assert count(rn50) == 38_316_896
    for cin in (1, 3):
        enc = ModifiedResNet([3, 4, 6, 3], 1024, 32, 224, 64, in_channels=cin, attnpool=False)
        print(f"// CLIP RN50 encoder without attnpool, {cin} ch: {count(enc)};"
              f" U-Net 14 classes: {count(UNet(enc))}")
    small = ModifiedResNet([1, 1, 1, 1], 32, 4, 64, 8, attnpool=False)
    print(f"// tiny CLIP U-Net [1,1,1,1] width 8, 3 ch, decoder 32/16/8/8/8, 5 classes:"
          f" {count(UNet(small, 5, (32, 16, 8, 8, 8)))}")

    # 2. tiny forward golden
    m = ModifiedResNet([1, 1, 1, 1], 32, 4, 64, 8).double().eval()
    formula(m)
    print("// tiny state dict keys:", len(m.state_dict()), "parameters:", len(list(m.parameters())))
    for size in (64, 96):
        n = 2 * 3 * size * size
        x = torch.sin(0.05 * torch.arange(n, dtype=torch.float64)).reshape(2, 3, size, size)
        feats = m.features(x)
        if size == 64:
            for j, f in enumerate(feats):
                print(f"// feature {j} {list(f.shape)}")
                print(probe(f) + ",")
        g, dense, value = m.attnpool(feats[-1])
        print(f"// attnpool at {size}: global {list(g.shape)}, dense {list(dense.shape)}")
        print("global:", probe(g))
        print("dense:", probe(dense))
        print("value:", probe(value))

    # 3. positional-embedding resizing
    d = 3
    pos = torch.sin(0.3 * torch.arange((1 + 4) * d, dtype=torch.float64) + 0.2).reshape(1, 5, d)

    def resample(p, src, dst, prefix):
        # timm's resample_abs_pos_embed with mode "bilinear"/"trilinear" and our 2D -> 3D rule.
        cls, grid = p[:, :prefix], p[:, prefix:]
        grid = grid.reshape(1, *src, d).permute(0, len(src) + 1, *range(1, len(src) + 1))
        if len(dst) == 3 and len(src) == 2:
            grid = grid.unsqueeze(2)
        mode = "bilinear" if len(dst) == 2 else "trilinear"
        grid = F.interpolate(grid, size=dst, mode=mode, align_corners=False)
        grid = grid.permute(0, *range(2, len(dst) + 2), 1).reshape(1, -1, d)
        return torch.cat([cls, grid], 1)

    p2 = resample(pos, [2, 2], [3, 3], 1)
    p3 = resample(pos, [2, 2], [2, 3, 3], 1)
    for z in range(2):
        err = (p3[0, 1:].reshape(2, 9, d)[z] - p2[0, 1:]).abs().max().item()
        assert err < 1e-12, err
    assert torch.equal(p3[:, :1], pos[:, :1])
    p4 = resample(pos[:, 1:], [1, 4], [3, 2], 0)
    print("// pos [1,5,3] (cls + 2x2) -> 3x3:", arr(p2))
    print("// pos 4 tokens [1,4] -> [3,2] (no cls):", arr(p4))
    pos3 = torch.sin(0.45 * torch.arange(8 * d, dtype=torch.float64)).reshape(1, 8, d)
    p6 = resample(pos3, [2, 2, 2], [3, 2, 3], 0)
    print("// pos3 [1,8,3] 2x2x2 -> 3x2x3 (no cls):", arr(p6))


if __name__ == "__main__":
    main()
