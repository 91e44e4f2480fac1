"""Golden values for the attention, transformer, Swin and BERT layers (Tests/EngineTests/TransformerTests.swift,
BertTests.swift).

Run with the reference environment:  /work/venv/bin/python scripts/golden/transformer_fixtures.py
Writes Tests/EngineTests/Fixtures/transformer.json and, when .cache/models/all-MiniLM-L6-v2 exists
(scripts/setup_minilm.sh), minilm.json.

Every input and weight is drawn in float32 and stored; references are computed in float64 from those exact values,
so the Swift side (float32) is compared against the exact answer, not against another float32 rounding.
Gradients are of sum(output * R) for a stored random R.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import write_fixture  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "EngineTests", "Fixtures")
MINILM = os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2")

torch.manual_seed(20240611)


def rand(*shape, std=1.0):
    """float32 draw, promoted to float64 for the reference."""
    return (torch.randn(*shape, dtype=torch.float32) * std).double()


def grads_of(out, named, r):
    """Backward of sum(out * r); returns {name: grad} for every named leaf."""
    for t in named.values():
        t.grad = None
    (out * r).sum().backward()
    return {f"grad.{n}": t.grad.detach().clone() for n, t in named.items()}


def detach_all(d):
    return {k: v.detach() for k, v in d.items()}


# ---------------------------------------------------------------------------------------------------------------
# Multi-head attention, checked against torch.nn.MultiheadAttention (separate q/k/v weights map to q_proj...).

def mha_weights(mha, kdim_same):
    d = mha.embed_dim
    if kdim_same:
        w = mha.in_proj_weight
        q, k, v = w[:d], w[d:2 * d], w[2 * d:]
    else:
        q, k, v = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
    b = mha.in_proj_bias
    return {"q_proj.weight": q, "k_proj.weight": k, "v_proj.weight": v,
            "q_proj.bias": b[:d], "k_proj.bias": b[d:2 * d], "v_proj.bias": b[2 * d:],
            "out_proj.weight": mha.out_proj.weight, "out_proj.bias": mha.out_proj.bias}


def randomize(module, std=0.5):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(rand(*p.shape, std=std))


def attention_case(cross):
    dim, heads, b, tq = 8, 2, 2, 5
    tk, kdim = (6, 12) if cross else (tq, dim)
    mha = nn.MultiheadAttention(dim, heads, batch_first=True, kdim=kdim, vdim=kdim).double()
    randomize(mha)
    query = rand(b, tq, dim).requires_grad_()
    memory = rand(b, tk, kdim).requires_grad_() if cross else query
    pad = torch.zeros(b, tk)
    pad[1, -2:] = 1  # the second sequence has two padded keys
    bias = rand(tq, tk) if cross else None
    out, weights = mha(query, memory, memory, key_padding_mask=pad.bool(), attn_mask=bias,
                       need_weights=True, average_attn_weights=True)
    r = rand(*out.shape)
    leaves = {"query": query}
    if cross:
        leaves["memory"] = memory
    # Gradients with respect to the fused in-projection are split like the weights.
    leaves["in_proj_bias"] = mha.in_proj_bias
    leaves["out_proj.weight"] = mha.out_proj.weight
    if cross:
        leaves["k_proj.weight"] = mha.k_proj_weight
    else:
        leaves["in_proj_weight"] = mha.in_proj_weight
    g = grads_of(out, leaves, r)
    tensors = {"query": query, "key_padding_mask": pad, "output": out, "weights": weights, "r": r}
    if cross:
        tensors.update({"memory": memory, "bias": bias})
    tensors.update(mha_weights(mha, not cross))
    grad = {"grad.query": g["grad.query"], "grad.out_proj.weight": g["grad.out_proj.weight"],
            "grad.q_proj.bias": g["grad.in_proj_bias"][:dim], "grad.v_proj.bias": g["grad.in_proj_bias"][2 * dim:]}
    if cross:
        grad["grad.memory"] = g["grad.memory"]
        grad["grad.k_proj.weight"] = g["grad.k_proj.weight"]
    else:
        grad["grad.k_proj.weight"] = g["grad.in_proj_weight"][dim:2 * dim]
    tensors.update(grad)
    return detach_all(tensors)


# ---------------------------------------------------------------------------------------------------------------
# Swin block, written here from the paper (Liu et al. 2021, Sec. 3.2): W-MSA/SW-MSA with a cyclic shift, the
# relative position bias B gathered from a (2M-1)^2 table, and the mask that separates the regions the shift
# brings together in one window.

def window_partition(x, m):
    b, h, w, c = x.shape
    x = x.view(b, h // m, m, w // m, m, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, m * m, c)


def window_reverse(win, m, h, w):
    c = win.shape[-1]
    b = win.shape[0] // ((h // m) * (w // m))
    return win.view(b, h // m, w // m, m, m, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def relative_index(m):
    ys, xs = torch.meshgrid(torch.arange(m), torch.arange(m), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])          # [2, N]
    rel = coords[:, :, None] - coords[:, None, :] + (m - 1)      # [2, N, N], offsets shifted to >= 0
    return rel[0] * (2 * m - 1) + rel[1]


def shift_mask(h, w, m, s):
    region = torch.zeros(h, w)
    label = 0
    for hs in (slice(0, h - m), slice(h - m, h - s), slice(h - s, h)):
        for ws in (slice(0, w - m), slice(w - m, w - s), slice(w - s, w)):
            region[hs, ws] = label
            label += 1
    win = window_partition(region.view(1, h, w, 1), m).squeeze(-1)   # [nW, N]
    differ = win[:, :, None] != win[:, None, :]
    return torch.zeros(differ.shape, dtype=torch.float64).masked_fill(differ, -100.0)


def swin_block_reference(x, p, heads, m, s):
    b, h, w, c = x.shape
    d = c // heads
    shortcut = x
    y = F.layer_norm(x, (c,), p["norm1.weight"], p["norm1.bias"], 1e-5)
    if s > 0:
        y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
    win = window_partition(y, m)                                           # [B*nW, N, C]
    bw, n, _ = win.shape
    qkv = F.linear(win, p["attn.qkv.weight"], p["attn.qkv.bias"]).view(bw, n, 3, heads, d).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * d ** -0.5, qkv[1], qkv[2]
    scores = q @ k.transpose(-2, -1)                                      # [B*nW, H, N, N]
    idx = relative_index(m).flatten()
    bias = p["attn.relative_position_bias_table"][idx].view(n, n, heads).permute(2, 0, 1)
    scores = scores + bias.unsqueeze(0)
    if s > 0:
        mask = shift_mask(h, w, m, s)
        nw = mask.shape[0]
        scores = scores.view(bw // nw, nw, heads, n, n) + mask[None, :, None]
        scores = scores.view(bw, heads, n, n)
    attn = scores.softmax(-1)
    out = (attn @ v).transpose(1, 2).reshape(bw, n, c)
    out = F.linear(out, p["attn.proj.weight"], p["attn.proj.bias"])
    y = window_reverse(out, m, h, w)
    if s > 0:
        y = torch.roll(y, shifts=(s, s), dims=(1, 2))
    x = shortcut + y
    z = F.layer_norm(x, (c,), p["norm2.weight"], p["norm2.bias"], 1e-5)
    z = F.linear(F.gelu(F.linear(z, p["mlp.fc1.weight"], p["mlp.fc1.bias"])), p["mlp.fc2.weight"], p["mlp.fc2.bias"])
    return x + z


def swin_case(shift):
    b, h, w, c, heads, m = 2, 8, 12, 8, 2, 4
    shapes = {"norm1.weight": (c,), "norm1.bias": (c,), "attn.qkv.weight": (3 * c, c), "attn.qkv.bias": (3 * c,),
              "attn.relative_position_bias_table": ((2 * m - 1) ** 2, heads),
              "attn.proj.weight": (c, c), "attn.proj.bias": (c,), "norm2.weight": (c,), "norm2.bias": (c,),
              "mlp.fc1.weight": (4 * c, c), "mlp.fc1.bias": (4 * c,), "mlp.fc2.weight": (c, 4 * c), "mlp.fc2.bias": (c,)}
    p = {}
    for k, shp in shapes.items():
        base = 1.0 if k.startswith("norm") and k.endswith("weight") else 0.0
        p[k] = (rand(*shp, std=0.4) + base).requires_grad_()
    x = rand(b, h, w, c).requires_grad_()
    out = swin_block_reference(x, p, heads, m, shift)
    r = rand(*out.shape)
    g = grads_of(out, {"x": x, **p}, r)
    tensors = {"x": x, "output": out, "r": r, **p}
    tensors.update({k: v for k, v in g.items()
                    if k in ("grad.x", "grad.attn.relative_position_bias_table", "grad.attn.qkv.weight",
                             "grad.attn.proj.bias", "grad.norm1.weight", "grad.mlp.fc1.weight")})
    if shift:
        tensors["mask"] = shift_mask(h, w, m, shift)
        tensors["relative_position_index"] = relative_index(m).double()
    return detach_all(tensors)


def patch_merging_case():
    b, h, w, c = 2, 4, 6, 3
    x = rand(b, h, w, c)
    p = {"norm.weight": rand(4 * c, std=0.3) + 1, "norm.bias": rand(4 * c, std=0.3),
         "reduction.weight": rand(2 * c, 4 * c, std=0.5)}
    # The paper concatenates each 2x2 group; the reference code's order is (0,0), (1,0), (0,1), (1,1) in (row, col).
    cat = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
    out = F.linear(F.layer_norm(cat, (4 * c,), p["norm.weight"], p["norm.bias"], 1e-5), p["reduction.weight"])
    return {"x": x, "output": out, **p}


# ---------------------------------------------------------------------------------------------------------------
# Transformer encoder/decoder layers against torch.nn.TransformerEncoderLayer / DecoderLayer.

def split_in_proj(prefix, mha):
    return {f"{prefix}.{k}": v for k, v in mha_weights(mha, True).items()}


def encoder_case(norm_first, activation):
    dim, heads, ff, b, t = 8, 2, 16, 2, 5
    layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout=0.0, activation=activation, batch_first=True,
                                       norm_first=norm_first).double()
    randomize(layer)
    with torch.no_grad():
        for n in ("norm1", "norm2"):
            getattr(layer, n).weight.add_(1.0)
    x = rand(b, t, dim).requires_grad_()
    pad = torch.zeros(b, t)
    pad[0, -1] = 1
    layer.eval()  # the fast path is only taken without grad; with grad the reference math path runs
    out = layer(x, src_key_padding_mask=pad.bool())
    r = rand(*out.shape)
    g = grads_of(out, {"x": x, "linear1.weight": layer.linear1.weight, "norm1.weight": layer.norm1.weight}, r)
    tensors = {"x": x, "key_padding_mask": pad, "output": out, "r": r, **g}
    tensors.update(split_in_proj("self_attn", layer.self_attn))
    for n in ("linear1", "linear2", "norm1", "norm2"):
        m = getattr(layer, n)
        tensors[f"{n}.weight"], tensors[f"{n}.bias"] = m.weight, m.bias
    return detach_all(tensors)


def decoder_case():
    dim, heads, ff, b, tq, tm = 8, 2, 16, 2, 3, 7
    layer = nn.TransformerDecoderLayer(dim, heads, ff, dropout=0.0, activation="gelu", batch_first=True).double()
    randomize(layer)
    with torch.no_grad():
        for n in ("norm1", "norm2", "norm3"):
            getattr(layer, n).weight.add_(1.0)
    x, memory = rand(b, tq, dim), rand(b, tm, dim)
    mpad = torch.zeros(b, tm)
    mpad[1, -3:] = 1
    causal = torch.triu(torch.full((tq, tq), float("-inf"), dtype=torch.float64), diagonal=1)
    with torch.no_grad():
        out = layer(x, memory, tgt_mask=causal, memory_key_padding_mask=mpad.bool())
    tensors = {"x": x, "memory": memory, "memory_key_padding_mask": mpad, "output": out}
    tensors.update(split_in_proj("self_attn", layer.self_attn))
    tensors.update(split_in_proj("multihead_attn", layer.multihead_attn))
    for n in ("linear1", "linear2", "norm1", "norm2", "norm3"):
        m = getattr(layer, n)
        tensors[f"{n}.weight"], tensors[f"{n}.bias"] = m.weight, m.bias
    return detach_all(tensors)


# ---------------------------------------------------------------------------------------------------------------
# A tiny random BERT through transformers' BertModel: checks names, masking and the post-norm layout without
# needing the downloaded model.

def bert_tiny_case():
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                     max_position_embeddings=16, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12,
                     attn_implementation="eager")
    model = BertModel(cfg).double().eval()
    randomize(model, std=0.3)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "LayerNorm.weight" in n:
                p.add_(1.0)
    ids = torch.tensor([[2, 7, 9, 11, 3, 5], [2, 30, 12, 3, 0, 0]])
    mask = (ids != 0).long()
    mask[0] = 1
    with torch.no_grad():
        o = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    tensors = {f"param.{k}": v for k, v in model.state_dict().items() if k != "embeddings.position_ids"}
    tensors.update({"input_ids": ids.double(), "attention_mask": mask.double(), "pooled": o.pooler_output})
    for i, h in enumerate(o.hidden_states):
        tensors[f"hidden.{i}"] = h
    return detach_all(tensors)


# ---------------------------------------------------------------------------------------------------------------
# all-MiniLM-L6-v2: the real tokenizer and model.

SENTENCES = [
    "The café's naïve résumé: 3.5°C, isn't it?!",
    "Bilateral pulmonary infection, two infected areas, upper left lung and lower right lung.",
    "Ünïcödé FAÇADE — “quoted” text & $100 (test) 北京大学 hello-world!!",
]
# Tokenizer-only inputs for the corner cases: a word over 100 characters, control, format and zero-width characters,
# every kind of whitespace, case mappings that change length (İ, ẞ, ligatures), Greek with tonos, CJK next to kana
# and Hangul, scripts with combining marks, unknown symbols, special tokens in the text.
TOKENIZER_ONLY = [
    "a" + "b" * 120 + " short",
    "tab\there\nnew line\u200bjoined\u0007bell",
    "STRASSE Straße ΆΘΗΝΑ",
    "emoji 🙂 and ⅷ [MASK] [CLS]",
    "tabs\tand\r\nand\x0bvertical\x0cfeed\x1cfs\x85nel NBSP\u00a0here soft\u00adhyphen em\u2003space",
    "İstanbul ǅ ß ẞ ﬀ ﬃ Σίσυφος ΣΊΣΥΦΟΣ µm ℃ ½",
    "日本語のテキストと中文字符混合 with 한국어, العربية, हिन्दी and e\u0301 a\u0308",
]


def minilm_cases():
    from transformers import BertModel, BertTokenizer
    # The directory holds vocab.txt without tokenizer_config.json, so this is BERT's default uncased tokenizer,
    # the one all-MiniLM-L6-v2 ships with (do_lower_case=True, accents stripped).
    tokenizer = BertTokenizer.from_pretrained(MINILM)
    model = BertModel.from_pretrained(MINILM, attn_implementation="eager").eval()
    cases = {}
    for i, text in enumerate(SENTENCES + TOKENIZER_ONLY):
        ids = tokenizer(text)["input_ids"]
        case = {"input_ids": torch.tensor(ids, dtype=torch.float64)}
        if i < len(SENTENCES):
            with torch.no_grad():
                last = model(input_ids=torch.tensor([ids])).last_hidden_state[0].double()
            case.update({"last_hidden_first8": last[:, :8], "cls": last[0], "mean": last.mean(0)})
        cases[f"text{i}"] = case
    return cases, SENTENCES + TOKENIZER_ONLY


def main():
    cases = {
        "attention_self": attention_case(cross=False),
        "attention_cross": attention_case(cross=True),
        "swin_block_shift": swin_case(shift=2),
        "swin_block_noshift": swin_case(shift=0),
        "patch_merging": patch_merging_case(),
        "encoder_postnorm_relu": encoder_case(norm_first=False, activation="relu"),
        "encoder_prenorm_gelu": encoder_case(norm_first=True, activation="gelu"),
        "decoder_postnorm": decoder_case(),
        "bert_tiny": bert_tiny_case(),
    }
    write_fixture(os.path.join(FIXTURES, "transformer.json"), cases)
    if os.path.isdir(MINILM):
        cases, texts = minilm_cases()
        write_fixture(os.path.join(FIXTURES, "minilm.json"), cases, texts=texts)
    else:
        print(f"{MINILM} missing: run scripts/setup_minilm.sh for minilm.json", file=sys.stderr)


if __name__ == "__main__":
    main()
