"""PyTorch side of `make bench`: the same reference cases as bench/Bench/main.swift, timed the same way.

Prints one JSON object {case: median_ms} on stdout. Run by the Swift benchmark when torch is importable:
    python -m venv ~/.venvs/torch && ~/.venvs/torch/bin/pip install torch   # CPU wheels are enough
Thread count follows the Swift side (--threads), so both use the same cores.
"""
import argparse, json, statistics, time
import torch
import torch.nn as nn


def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class UNet(nn.Module):
    """Base width w, `depth` down-steps, two conv-BN-ReLU per level, max-pool down, transposed-conv up."""

    def __init__(self, cin, w, depth=4, cout=1):
        super().__init__()
        chans = [w * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c = cin
        for ch in chans:
            self.down.append(nn.Sequential(*conv_bn_relu(c, ch), *conv_bn_relu(ch, ch)))
            c = ch
        self.ups = nn.ModuleList(nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in reversed(range(depth)))
        self.up = nn.ModuleList(nn.Sequential(*conv_bn_relu(2 * chans[i], chans[i]), *conv_bn_relu(chans[i], chans[i]))
                                for i in reversed(range(depth)))
        self.head = nn.Conv2d(chans[0], cout, 1)

    def forward(self, x):
        skips = []
        for i, blk in enumerate(self.down):
            x = blk(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
        for up, blk in zip(self.ups, self.up):
            x = blk(torch.cat([skips.pop(), up(x)], 1))
        return self.head(x)


class ViTBlocks(nn.Module):
    def __init__(self, dim=192, heads=3, depth=4):
        super().__init__()
        self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu",
                                                               batch_first=True, norm_first=True) for _ in range(depth))

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class Stage3d(nn.Module):
    """A 3D U-Net stage: two (Conv3d 3x3x3 + InstanceNorm3d + LeakyReLU(0.01)), as nnU-Net and MONAI's blocks."""

    def __init__(self, c):
        super().__init__()
        layers = []
        for _ in range(2):
            layers += [nn.Conv3d(c, c, 3, padding=1), nn.InstanceNorm3d(c, affine=True), nn.LeakyReLU(0.01)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 bottleneck (v1.5: the stride on the 3x3 conv); torchvision is not needed."""

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        out = planes * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                           if stride != 1 or cin != out else None)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return torch.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNetUNet(nn.Module):
    """ResNet-50 encoder + segmentation_models_pytorch's Unet decoder (256/128/64/32/16, nearest x2, two
    conv3x3-BN-ReLU per block), conv3x3 head; the same graph as Models/ResNetUNet.swift."""

    def __init__(self, cin=1, classes=14, decoder=(256, 128, 64, 32, 16)):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        stages, c = [], 64
        for planes, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            layers = []
            for i in range(blocks):
                layers.append(Bottleneck(c, planes, stride if i == 0 else 1))
                c = planes * 4
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        skips, c = [1024, 512, 256, 64, 0], 2048
        self.blocks = nn.ModuleList()
        for out, skip in zip(decoder, skips):
            self.blocks.append(nn.Sequential(
                nn.Conv2d(c + skip, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                nn.Conv2d(out, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)))
            c = out
        self.head = nn.Conv2d(decoder[-1], classes, 3, padding=1)

    def forward(self, x):
        s = torch.relu(self.bn1(self.conv1(x)))
        feats = [s]
        h = nn.functional.max_pool2d(s, 3, 2, 1)
        for st in self.stages:
            h = st(h)
            feats.append(h)
        h = feats.pop()
        for blk in self.blocks:
            h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
            if feats:
                h = torch.cat([h, feats.pop()], 1)
            h = blk(h)
        return self.head(h)


def unetr(size):
    from monai.networks.nets import UNETR
    return UNETR(in_channels=1, out_channels=14, img_size=size, feature_size=8, hidden_size=192, mlp_dim=768,
                 num_heads=3, norm_name="instance", res_block=True)


def layer3d_cases():
    """Single 3D layers, batch 2: forward and both gradients (input and weight) plus an Adam step."""
    for cin, cout, size in [(1, 16, 48), (8, 8, 48), (16, 16, 48), (32, 32, 24), (64, 64, 12), (128, 128, 6)]:
        yield f"conv3d_{cin}to{cout}_{size}", (lambda cin=cin, cout=cout: nn.Conv3d(cin, cout, 3, padding=1)), (2, cin, size, size, size), "layer"
    yield "convT3d_64to32_12", lambda: nn.ConvTranspose3d(64, 32, 2, stride=2), (2, 64, 12, 12, 12), "layer"
    yield "inorm_lrelu3d_32_48", lambda: nn.Sequential(nn.InstanceNorm3d(32, affine=True), nn.LeakyReLU(0.01)), (2, 32, 48, 48, 48), "layer"
    yield "unet3d_stage_32_48", lambda: Stage3d(32), (2, 32, 48, 48, 48), "layer"


def cases():
    yield "unet16_b8_1x64", lambda: UNet(1, 16), (8, 1, 64, 64), "seg"
    yield "unet16_b8_1x128", lambda: UNet(1, 16), (8, 1, 128, 128), "seg"
    yield "unet64_b2_3x224", lambda: UNet(3, 64), (2, 3, 224, 224), "seg"
    yield "vit192_4blocks_b8_t256", lambda: ViTBlocks(), (8, 256, 192), "tok"
    yield from layer3d_cases()
    # MOSMOS's networks at the engine-speed issue's configurations: AdamW + cross-entropy over 14 classes.
    yield "unetr_f8_h192_b2_32", lambda: unetr(32), (2, 1, 32, 32, 32), "multiclass"
    yield "unetr_f8_h192_b2_48", lambda: unetr(48), (2, 1, 48, 48, 48), "multiclass"
    yield "resnet50_unet_b8_1x128", lambda: ResNetUNet(), (8, 1, 128, 128), "multiclass"


def time_case(make, shape, kind, warmup, iters, clock=time.perf_counter):
    torch.manual_seed(0)
    model = make()
    opt = (torch.optim.AdamW if kind == "multiclass" else torch.optim.Adam)(model.parameters(), lr=1e-3)
    x = torch.randn(*shape, requires_grad=(kind == "layer"))
    labels = torch.randint(0, 14, (shape[0],) + tuple(shape[2:])) if kind == "multiclass" else None
    y = (torch.rand(shape[0], 1, shape[2], shape[3]) > 0.5).float() if kind == "seg" else torch.randn(*shape)
    times = []
    for i in range(warmup + iters):
        t0 = clock()
        opt.zero_grad(set_to_none=True)
        out = model(x)
        if kind == "seg":
            loss = nn.functional.binary_cross_entropy_with_logits(out, y)
        elif kind == "multiclass":
            loss = nn.functional.cross_entropy(out, labels)
        elif kind == "layer":
            x.grad = None
            loss = (out * out).mean()
        else:
            loss = ((out - y) ** 2).mean()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append((clock() - t0) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--only", default=None)
    # Process CPU time instead of wall time, as the Swift side's --cpu: with one thread it does not depend on load.
    ap.add_argument("--cpu", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = {}
    for name, make, shape, kind in cases():
        if a.only and a.only != name:
            continue
        out[name] = time_case(make, shape, kind, a.warmup, a.iters, time.process_time if a.cpu else time.perf_counter)
    print(json.dumps(out))
