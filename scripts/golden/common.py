"""Fixture writer shared by the golden-value scripts (nn_fixtures.py, transformer_fixtures.py).

A fixture file is one JSON document per group of cases, read by Tests/EngineTests/Fixture.swift:

    {"cases": {"<case>": {"tensors": {"<name>": {"shape": [..], "data": [..]}},
                          "scalars": {"<name>": number},
                          "params":  {"<name>": any JSON value}}},
     "<extra>": any JSON value, ...}

API (all that a script needs):

    write_fixture(path, cases, **extra)
        cases: {case name: dict}. Each case dict is either already split into "tensors"/"scalars"/"params", or a
        flat dict whose values are sorted by type: torch tensors and numpy arrays go to "tensors", Python ints and
        floats to "scalars", anything else (bools, strings, lists of ints, None) to "params".
        extra: top-level JSON values (for example texts=[...]).
        Values are written with 9 significant digits (exact for float32); every tensor value must be finite.
        Raises if the file would exceed MAX_BYTES, to keep the repository small.

    seed(s)  seeds torch for deterministic inputs.
    FIXTURES is the directory the Swift tests read (Tests/EngineTests/Fixtures).
"""
import json
import math
import numbers
import os

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "EngineTests", "Fixtures")
MAX_BYTES = 300_000

_SECTIONS = ("tensors", "scalars", "params")


def seed(s):
    torch.manual_seed(s)
    np.random.seed(s % (2 ** 32))


def _number(v):
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"non-finite value {v} cannot be stored in JSON")
    return float(f"{v:.9g}")


def _tensor_entry(t):
    a = t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)
    return {"shape": list(a.shape), "data": [_number(x) for x in a.reshape(-1)]}


def _split_case(case):
    if case and set(case) <= set(_SECTIONS) and all(isinstance(v, dict) for v in case.values()):
        out = {s: {} for s in _SECTIONS}
        for s in _SECTIONS:
            for k, v in case.get(s, {}).items():
                if s == "tensors":
                    out[s][k] = _tensor_entry(v)
                elif s == "scalars":
                    out[s][k] = _number(v)
                else:
                    out[s][k] = v
        return out
    out = {s: {} for s in _SECTIONS}
    for k, v in case.items():
        if isinstance(v, (torch.Tensor, np.ndarray)):
            out["tensors"][k] = _tensor_entry(v)
        elif isinstance(v, numbers.Real) and not isinstance(v, bool):
            out["scalars"][k] = _number(v)
        else:
            out["params"][k] = v
    return out


def write_fixture(path, cases, **extra):
    doc = {"cases": {name: _split_case(case) for name, case in cases.items()}}
    doc.update(extra)
    text = json.dumps(doc, separators=(",", ":"))
    if len(text) > MAX_BYTES:
        raise ValueError(f"{path}: {len(text)} bytes exceeds {MAX_BYTES}; use smaller shapes")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path} ({len(text) // 1024} KB, {len(cases)} cases)")
    return path
