"""Parameter counts of MONAI's UNETR at the configurations the suite builds (asserted in
Tests/NNTests/MOSMOSNetworkTests.swift). Run: ~/.venvs/torch/bin/python scripts/golden/unetr_counts.py"""
import monai
from monai.networks.nets import UNETR

CONFIGS = {
    # MOSMOS/UNETR paper: BTCV, 96^3, 14 classes, ViT-B/16 sizes, feature size 16.
    "paper": dict(in_channels=1, out_channels=14, img_size=96, feature_size=16, hidden_size=768, mlp_dim=3072, num_heads=12),
    # The engine-speed benchmark's UNETR at 48^3.
    "benchmark48": dict(in_channels=1, out_channels=14, img_size=48, feature_size=8, hidden_size=192, mlp_dim=768, num_heads=3),
    # MOSMOS proxy scale: BTCV (14 classes, 1 channel), MMWHS (8, 1), BRATS (4 classes, 4 channels), at 32^3.
    "proxy-btcv": dict(in_channels=1, out_channels=14, img_size=32, feature_size=8, hidden_size=192, mlp_dim=768, num_heads=3),
    "proxy-mmwhs": dict(in_channels=1, out_channels=8, img_size=32, feature_size=8, hidden_size=192, mlp_dim=768, num_heads=3),
    "proxy-brats": dict(in_channels=4, out_channels=4, img_size=32, feature_size=8, hidden_size=192, mlp_dim=768, num_heads=3),
}

print("monai", monai.__version__)
for name, c in CONFIGS.items():
    m = UNETR(proj_type="conv", norm_name="instance", res_block=True, dropout_rate=0.0, qkv_bias=False, **c)
    print(name, sum(p.numel() for p in m.parameters()))
